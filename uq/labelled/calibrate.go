package labelled

import (
	"errors"
	"fmt"
	"strings"
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
	// The stacked scorer: a logistic regression over the other scores. It
	// is fitted on one part of the records and certified (threshold, map,
	// AUROC) on the other, disjoint part: certified on the records it was
	// fitted on, its promise would be optimistic. Every record gets its
	// combined score (for the caller); only the held-out ones calibrate it.
	var stackInputs []string
	for _, n := range scorers {
		if n != uq.PregenProbe { // a signal before generation, not about the answer
			stackInputs = append(stackInputs, n)
		}
	}
	fitIdx, certIdx := stackSplit(records)
	fitRecs := make([]Record, 0, len(fitIdx))
	for _, i := range fitIdx {
		fitRecs = append(fitRecs, records[i])
	}
	var heldOut []Record
	stack, err := FitStack(fitRecs, stackInputs)
	if err == nil && len(certIdx) == 0 {
		err = errors.New("combined: no records left to certify the stack on")
	}
	if err == nil {
		f.Combined = stack
		for i := range records {
			v, err := stack.Apply(records[i].Scores)
			if err != nil {
				return nil, err
			}
			records[i].Scores[uq.Combined] = v
		}
		for _, i := range certIdx {
			heldOut = append(heldOut, records[i])
		}
		scorers = append(append([]string(nil), scorers...), uq.Combined)
	} else if primary == uq.Combined {
		return nil, fmt.Errorf("scorer combined: %w", err)
	}
	for _, name := range scorers {
		recs, how := records, fmt.Sprintf("all %d calibration records (nothing of the scorer is fitted on them)", len(records))
		split := fmt.Sprintf("the stack was fitted on %d records and certified on the other %d (disjoint)", len(fitIdx), len(certIdx))
		if name == uq.Combined {
			recs, how = heldOut, "held out: "+split
		}
		samples, err := Samples(recs, name)
		if err != nil {
			return nil, err
		}
		fit := calib.ScorerFit{Certification: how}
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
			if name == uq.Combined {
				res.Guarantee = strings.TrimSpace(res.Guarantee + " Certified on records held out from fitting the stack: " + split + ".")
			}
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

// stackSplit splits records into the part the combined stack is fitted on
// and the disjoint part its threshold, map and AUROC are computed on: about
// half each, by a hash of the record's Index (deterministic, and blind to
// the order or any pattern of the data set).
func stackSplit(records []Record) (fit, certify []int) {
	for i, r := range records {
		if splitmix64(uint64(r.Index))&1 == 0 {
			fit = append(fit, i)
		} else {
			certify = append(certify, i)
		}
	}
	return fit, certify
}

// splitmix64 is a fixed 64-bit mix (SplitMix64's finalizer).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
