package labelled

import (
	"errors"
	"fmt"
	"time"

	"github.com/edgecascade/edgecascade/probe"
	"github.com/edgecascade/edgecascade/uq"
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
	// The stacked scorer: a logistic regression over the other scores,
	// added to every record so it gets a threshold and a map like the rest.
	var stackInputs []string
	for _, n := range scorers {
		if n != uq.PregenProbe { // a signal before generation, not about the answer
			stackInputs = append(stackInputs, n)
		}
	}
	if stack, err := FitStack(records, stackInputs); err == nil {
		f.Combined = stack
		for i := range records {
			v, err := stack.Apply(records[i].Scores)
			if err != nil {
				return nil, err
			}
			records[i].Scores[uq.Combined] = v
		}
		scorers = append(append([]string(nil), scorers...), uq.Combined)
	} else if primary == uq.Combined {
		return nil, fmt.Errorf("scorer combined: %w", err)
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

// FitStack fits the combined scorer: a logistic regression of local
// correctness on the given scorers' scores (L2-regularized, deterministic).
func FitStack(records []Record, scorers []string) (*uq.Stack, error) {
	if len(scorers) == 0 {
		return nil, errors.New("combined: no input scorers")
	}
	X := make([][]float64, len(records))
	y := make([]bool, len(records))
	for i, r := range records {
		X[i] = make([]float64, len(scorers))
		for j, name := range scorers {
			v, ok := r.Scores[name]
			if !ok {
				return nil, fmt.Errorf("combined: record %d has no %s score", r.Index, name)
			}
			X[i][j] = v
		}
		y[i] = r.LocalCorrect
	}
	m, _, err := probe.Train(X, y, probe.DefaultTrainOptions())
	if err != nil {
		return nil, fmt.Errorf("combined: %w", err)
	}
	return &uq.Stack{Inputs: append([]string(nil), scorers...), Weights: m.Weights, Bias: m.Bias}, nil
}
