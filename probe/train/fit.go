package train

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/edgecascade/edgecascade/probe"
	"github.com/edgecascade/edgecascade/uq/calib"
)

// heldOut reports whether an item with this prompt is in the held-out part:
// the first 8 bytes of SHA-256 of the prompt, as a fraction of 2^64, are
// below share.
func heldOut(prompt string, share float64) bool {
	sum := sha256.Sum256([]byte(prompt))
	var u uint64
	for _, b := range sum[:8] {
		u = u<<8 | uint64(b) // big-endian
	}
	return float64(u>>11)/(1<<53) < share
}

// Eval is the held-out evaluation of the probe fitted without those items.
type Eval struct {
	Train, Test   int // items fitted on, items held out
	TestPositives int // held-out items right locally
	AUROC         *float64
	AUROCErr      error   // why AUROC is nil
	Accuracy      float64 // at p >= 0.5
	Majority      float64 // accuracy of always predicting the majority class
	Stats         probe.TrainStats
	// ThresholdResult is the pre-generation threshold's certificate on the
	// held-out items; nil with ThresholdErr saying why when there is none.
	ThresholdResult *calib.Result
	ThresholdErr    error
	// SkippedRight counts held-out items skipped at the threshold that were
	// right locally.
	SkippedRight int
	// ThresholdGuaranteed states the threshold's guarantee in words.
	ThresholdGuaranteed string
}

// Result is what Fit returns: the probe to write, its metadata, and the
// held-out evaluation.
type Result struct {
	Model *probe.Logistic
	Meta  probe.Meta
	Stats probe.TrainStats // of the written probe
	Eval  Eval
}

// Fit fits the probe on the training part, evaluates it on the held-out
// part (and, for a pre-generation probe, calibrates its threshold there),
// and returns the probe to write: refitted on all items for an answer probe,
// the training-part fit for a pre-generation probe (its threshold is
// certified for that fit only). The caller fills in the metadata it knows
// (Meta.Model, TrainedAt, the data's Extra keys).
func Fit(ds *Data, o Options) (*Result, error) {
	opts := probe.DefaultTrainOptions()
	opts.L2 = o.L2
	pos := ds.Positives()
	if pos == 0 || pos == len(ds.Y) {
		return nil, fmt.Errorf("all %d local answers are %s: a probe needs right and wrong answers to learn from (more or harder data?)",
			len(ds.Y), map[bool]string{true: "right", false: "wrong"}[pos > 0])
	}
	var (
		trX, teX [][]float32
		trY, teY []bool
	)
	for i, x := range ds.X {
		if heldOut(ds.Prompts[i], o.Holdout) {
			teX, teY = append(teX, x), append(teY, ds.Y[i])
		} else {
			trX, trY = append(trX, x), append(trY, ds.Y[i])
		}
	}
	if len(teX) == 0 || len(trX) == 0 {
		return nil, fmt.Errorf("--holdout %v leaves %d items to fit and %d to evaluate on: need some of each (more data, or another --holdout)", o.Holdout, len(trX), len(teX))
	}
	split, stats, err := probe.Train(trX, trY, opts)
	if err != nil {
		return nil, fmt.Errorf("fit on the %d training items: %w", len(trX), err)
	}
	ev := Eval{Train: len(trX), Test: len(teX), Stats: stats}
	samples := make([]calib.Sample, len(teX))
	right := 0
	for i, x := range teX {
		p, err := split.Predict(float64s(x))
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		samples[i] = calib.Sample{Score: p, Correct: teY[i]}
		if (p >= 0.5) == teY[i] {
			right++
		}
		if teY[i] {
			ev.TestPositives++
		}
	}
	ev.Accuracy = float64(right) / float64(len(teX))
	ev.Majority = float64(max(ev.TestPositives, len(teX)-ev.TestPositives)) / float64(len(teX))
	if auc, err := calib.AUROC(samples); err == nil {
		ev.AUROC = &auc
	} else {
		ev.AUROCErr = err
	}

	fit := &Result{Eval: ev, Meta: probe.Meta{FeatureKind: o.Kind(), Label: Label, Extra: map[string]string{
		ExtraL2:           fmt.Sprint(o.L2),
		ExtraHoldout:      fmt.Sprintf("%v of items, held out when sha256(prompt) < %v·2^64", o.Holdout, o.Holdout),
		ExtraHoldoutItems: fmt.Sprint(len(teX)),
	}}}
	if ev.AUROC != nil {
		fit.Meta.Extra[ExtraHoldoutAUROC] = fmt.Sprintf("%.4f", *ev.AUROC)
	}
	fit.Meta.Extra[ExtraHoldoutAcc] = fmt.Sprintf("%.4f", ev.Accuracy)

	if o.Pregen {
		t, err := pregenThreshold(samples, o.TargetWrong, o.Delta, &fit.Eval)
		if err != nil {
			return nil, err
		}
		fit.Meta.Threshold = t
		fit.Meta.Extra[ExtraThresholdRule] = "skip local generation when p(local right) <= threshold"
		if t != nil {
			fit.Meta.Extra[ExtraThresholdNote] = fit.Eval.ThresholdGuaranteed
		} else {
			fit.Meta.Extra[ExtraThresholdError] = fit.Eval.ThresholdErr.Error()
		}
		fit.Model, fit.Stats = split, stats
		fit.Meta.Extra[ExtraFittedOn] = fmt.Sprintf("the %d items not held out", len(trX))
	} else {
		all, allStats, err := probe.Train(ds.X, ds.Y, opts)
		if err != nil {
			return nil, fmt.Errorf("fit on all %d items: %w", len(ds.X), err)
		}
		fit.Model, fit.Stats = all, allStats
		fit.Meta.Extra[ExtraFittedOn] = fmt.Sprintf("all %d items", len(ds.X))
	}
	fit.Meta.FeatureSize = fit.Model.Dim()
	fit.Meta.Examples, fit.Meta.Positives = fit.Stats.Examples, fit.Stats.Positives
	return fit, nil
}

// pregenThreshold chooses the pre-generation probe's skip threshold on the
// held-out samples (Score = p(local right), Correct = local right): with
// samples {1-p, local wrong}, calib.TargetAccuracy finds the lowest score s
// such that, with probability >= 1-delta, the share of local-wrong answers
// among those with 1-p >= s is at least target. The threshold returned is
// the largest held-out p with 1-p >= s, so "skip when p <= threshold" skips
// exactly the certified held-out items. Not certifiable: nil threshold, the
// reason in ev.ThresholdErr.
func pregenThreshold(samples []calib.Sample, target, delta float64, ev *Eval) (*float64, error) {
	inv := make([]calib.Sample, len(samples))
	for i, s := range samples {
		inv[i] = calib.Sample{Score: 1 - s.Score, Correct: !s.Correct}
	}
	r, err := calib.TargetAccuracy(inv, target, delta)
	var nc *calib.NotCertifiableError
	if errors.As(err, &nc) {
		ev.ThresholdErr = pregenNotCertifiable(samples, inv, nc)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pre-generation threshold: %w", err)
	}
	t := -1.0
	for i, s := range inv {
		if s.Score >= r.Threshold {
			t = max(t, samples[i].Score)
			if samples[i].Correct {
				ev.SkippedRight++
			}
		}
	}
	if t < 0 {
		return nil, errors.New("pre-generation threshold: no held-out item is skipped at the certified score (a bug)")
	}
	ev.ThresholdResult = &r
	ev.ThresholdGuaranteed = fmt.Sprintf(
		"With probability at least %s over the held-out draw, at least %s of the queries this probe skips (p(local right) <= %.6g) are ones the local model gets wrong, on data exchangeable with the %d held-out items (upper bound on the share it would have got right: %.4g; %d of %d held-out queries skipped, %d of them right locally).",
		percent(1-delta), percent(target), t, len(samples), r.Certificate.ErrorBound, r.Accepted, len(samples), ev.SkippedRight)
	return &t, nil
}

// pregenNotCertifiable says in the pre-generation probe's terms why no
// threshold was certified. TargetAccuracy stops at its first failed test, so
// when there are enough samples it is the first candidate that failed: the
// fewest lowest-p items (ties together) that could be certified if all were
// wrong locally.
func pregenNotCertifiable(samples, inv []calib.Sample, nc *calib.NotCertifiableError) error {
	head := fmt.Sprintf("cannot certify that at least %s of skipped queries are ones the local model gets wrong, with probability %s",
		percent(nc.Target), percent(1-nc.Delta))
	if nc.Samples < nc.MinAccepted {
		return fmt.Errorf("%s: only %d held-out items, and even if every skipped one were wrong locally at least %d are needed (more data or a larger --holdout)",
			head, nc.Samples, nc.MinAccepted)
	}
	scores := make([]float64, len(inv))
	for i, s := range inv {
		scores[i] = s.Score
	}
	slices.Sort(scores)
	cut := scores[len(scores)-nc.MinAccepted] // the MinAccepted-th highest 1-p
	n, right, maxP := 0, 0, 0.0
	for i, s := range inv {
		if s.Score >= cut {
			n++
			maxP = max(maxP, samples[i].Score)
			if samples[i].Correct {
				right++
			}
		}
	}
	return fmt.Errorf("%s: the %d held-out queries with the lowest p(local right) (<= %.4g), the fewest the test can start from, include %d the local model got right: too many for a certificate on %d held-out items (more data, a lower --target-wrong or a larger --delta)",
		head, n, maxP, right, nc.Samples)
}

func percent(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", 100*v), "0"), ".") + "%"
}

func float64s(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}
