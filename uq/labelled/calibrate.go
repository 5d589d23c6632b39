package labelled

import (
	"errors"
	"fmt"
	"time"

	"github.com/edgecascade/edgecascade/uq/calib"
)

// Spec says how to pick thresholds.
type Spec struct {
	Method calib.Method
	Params calib.Params
}

// Validate checks that the method has its parameters.
func (s Spec) Validate() error {
	switch s.Method {
	case calib.MethodTargetAccuracy, calib.MethodTargetCloudRate, calib.MethodCostTradeoff:
		return nil
	case "":
		return errors.New("choose one of --target-accuracy, --target-cloud-rate or --cost-lambda")
	default:
		return fmt.Errorf("unknown calibration method %q", s.Method)
	}
}

func (s Spec) pick(samples []calib.Sample) (calib.Result, error) {
	p := s.Params
	switch s.Method {
	case calib.MethodTargetAccuracy:
		return calib.TargetAccuracy(samples, p.TargetAccuracy, p.Delta)
	case calib.MethodTargetCloudRate:
		return calib.TargetCloudRate(samples, p.TargetCloudRate)
	case calib.MethodCostTradeoff:
		return calib.CostTradeoff(samples, calib.Tradeoff{Lambda: p.CostLambda, LocalCost: p.LocalCost, CloudCost: p.CloudCost, CloudAccuracy: p.CloudAccuracy})
	}
	return calib.Result{}, s.Validate()
}

// Meta describes where the records came from, for the calibration file.
type Meta struct {
	LocalModel, LocalDigest, Data, DataHash, Matcher string
}

// Calibrate fits every scorer in the records: a threshold by the spec's
// method and an isotonic probability map. It fails only when the primary
// scorer gets no threshold (e.g. the target cannot be certified); other
// scorers' failures are recorded in the file.
func Calibrate(records []Record, scorers []string, primary string, spec Spec, meta Meta, now time.Time) (*calib.File, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if len(records) == 0 {
		return nil, errors.New("no records to calibrate on")
	}
	f := &calib.File{
		Version: calib.FileVersion, CreatedAt: now.UTC(),
		LocalModel: meta.LocalModel, LocalDigest: meta.LocalDigest,
		Data: meta.Data, DataHash: meta.DataHash, Matcher: meta.Matcher,
		Items: len(records), Scorer: primary, Method: spec.Method, Params: spec.Params,
		Scorers: map[string]calib.ScorerFit{},
	}
	for _, r := range records {
		if r.LocalCorrect {
			f.Correct++
		}
	}
	for _, name := range scorers {
		samples, err := Samples(records, name)
		if err != nil {
			return nil, err
		}
		var fit calib.ScorerFit
		if m, err := calib.FitIsotonic(samples); err == nil {
			fit.Map = m
		} else {
			return nil, fmt.Errorf("scorer %s: probability map: %w", name, err)
		}
		if a, err := calib.AUROC(samples); err == nil {
			fit.AUROC = &a
		}
		res, err := spec.pick(samples)
		if err != nil {
			if name == primary {
				return nil, fmt.Errorf("scorer %s: %w", name, err)
			}
			fit.Error = err.Error()
		} else {
			t := res.Threshold
			fit.Threshold, fit.Result = &t, &res
		}
		f.Scorers[name] = fit
	}
	if _, ok := f.Scorers[primary]; !ok {
		return nil, fmt.Errorf("scorer %s was not run", primary)
	}
	return f, nil
}
