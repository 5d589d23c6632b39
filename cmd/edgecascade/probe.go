package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/probe"
	"github.com/edgecascade/edgecascade/uq"
	"github.com/edgecascade/edgecascade/uq/calib"
	"github.com/edgecascade/edgecascade/uq/labelled"
)

// probeLabel is what a probe's positive label means: its output is the
// probability that the local model's answer is right.
const probeLabel = "local_correct"

// featureSources describes, per local.backend, where probe features come
// from; it is stored in the probe file.
var featureSources = map[string]string{
	"ollama":          "ollama /api/embed (L2-normalized)",
	"llamacpp-server": "llama-server /embedding, mean-pooled (L2-normalized)",
	"llamacpp":        "in-process llama.cpp, last token (L2-normalized)",
}

// Metadata keys this command adds to a probe file (probe.Meta.Extra).
const (
	extraData           = "edgecascade.data"
	extraDataHash       = "edgecascade.data_sha256"
	extraDigest         = "edgecascade.local_digest"
	extraFeatureSource  = "edgecascade.feature_source"
	extraMatcher        = "edgecascade.matcher"
	extraL2             = "edgecascade.l2"
	extraFittedOn       = "edgecascade.fitted_on"
	extraHoldout        = "edgecascade.holdout"
	extraHoldoutItems   = "edgecascade.holdout_items"
	extraHoldoutAUROC   = "edgecascade.holdout_auroc"
	extraHoldoutAcc     = "edgecascade.holdout_accuracy"
	extraThresholdRule  = "edgecascade.threshold_rule"
	extraThresholdNote  = "edgecascade.threshold_guarantee"
	extraThresholdError = "edgecascade.threshold_error"
)

// probeTrainFlags are the flags of `probe train`.
type probeTrainFlags struct {
	df          dataFlags
	out         string
	pregen      bool
	holdout     float64
	targetWrong float64
	delta       float64
	l2          float64
}

func (f *probeTrainFlags) validate() error {
	switch {
	case f.df.data == "":
		return errors.New("--data is required")
	case f.out == "":
		return errors.New("--out is required")
	case !(f.holdout > 0 && f.holdout < 1):
		return fmt.Errorf("--holdout %v: want a share in (0, 1)", f.holdout)
	case !(f.targetWrong > 0 && f.targetWrong < 1):
		return fmt.Errorf("--target-wrong %v: want a share in (0, 1)", f.targetWrong)
	case !(f.delta > 0 && f.delta < 1):
		return fmt.Errorf("--delta %v: want a probability in (0, 1)", f.delta)
	case math.IsNaN(f.l2) || math.IsInf(f.l2, 0) || f.l2 < 0:
		return fmt.Errorf("--l2 %v: want a finite value >= 0", f.l2)
	}
	return nil
}

func (f *probeTrainFlags) kind() probe.FeatureKind {
	if f.pregen {
		return probe.FeaturePrompt
	}
	return probe.FeatureAnswer
}

func (a *app) probeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Hidden-state probes: train them on labelled data, run one on a feature vector",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(a.probeTrainCmd(), a.probePredictCmd())
	return cmd
}

func (a *app) probeTrainCmd() *cobra.Command {
	f := &probeTrainFlags{}
	cmd := &cobra.Command{
		Use:   "train --data FILE --out probe.onnx [--pregen]",
		Short: "Train a hidden-state probe that predicts whether the local answer is right",
		Long: `probe train runs the configured local model over a labelled JSONL file (answers
come from the same cache as calibrate, and are judged with --matcher), reads
the local model's final hidden state for every item, fits a logistic
regression of "the local answer is right" on it, and writes the probe as an
ONNX file for probe.path (answer probe) or probe.pregen_path (--pregen).

  answer probe (default)  reads the rendered conversation followed by the raw
                          local answer; serve scores answers with it
                          (cascade.scorer probe or combined).
  --pregen                reads the rendered conversation only, before any
                          answer exists; serve skips local generation and
                          escalates at once when its probability is at most
                          the threshold.

Features are cached beside the answers (Ctrl-C keeps what was done; a re-run
is instant).

Honest evaluation: items are split by a hash of their prompt: an item is held
out when the first 8 bytes of SHA-256 of its prompt, read as a fraction of
2^64, are below --holdout (so the split does not depend on the order or the
number of items, and repeated prompts fall on the same side). A probe fitted
on the other items is evaluated on the held-out ones (AUROC and accuracy).

The answer probe written is then refitted on all items. The pre-generation
probe's threshold is calibrated on the held-out items with the probe fitted
without them: the largest threshold T such that, with probability at least
1 - delta (--delta), at least the share --target-wrong of the queries skipped
(p(local right) <= T) are ones the local model gets wrong (Clopper-Pearson
bound, fixed-sequence testing, as calibrate --target-accuracy). That guarantee holds only
for the probe it was computed with, so with --pregen the file holds that
probe, not a refit. When no threshold can be certified the file stores none
and serve needs probe.pregen_threshold.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			// Training reads hidden states, not the configured probes: do
			// not load them (probe.path may name the file being trained).
			cfg.Probe.Path, cfg.Probe.PregenPath = "", ""
			ctx := cmd.Context()
			run, err := a.prepareRun(ctx, cfg, &f.df, false, "probe train")
			if err != nil {
				return err
			}
			defer run.close()
			fx, err := trainFeatureSource(run, cfg.Local.Backend)
			if err != nil {
				return err
			}
			records, err := a.execute(ctx, run)
			if err != nil {
				return err
			}
			ds, err := a.collectFeatures(ctx, fx, cfg.Local.Backend, run, records, f)
			if err != nil {
				return err
			}
			res, err := fitProbe(ds, f)
			if err != nil {
				return err
			}
			source := featureSources[cfg.Local.Backend]
			if source == "" {
				source = cfg.Local.Backend
			}
			res.meta.Model = run.local.Name()
			res.meta.TrainedAt = time.Now()
			res.meta.Extra[extraData] = f.df.label(len(run.items))
			res.meta.Extra[extraDataHash] = run.hash
			res.meta.Extra[extraFeatureSource] = source
			res.meta.Extra[extraMatcher] = f.df.matcher
			if run.digest != "" {
				res.meta.Extra[extraDigest] = run.digest
			}
			if err := writeProbeFile(f.out, res.model, res.meta); err != nil {
				return err
			}
			a.printProbe(res, ds, f, source)
			return nil
		},
	}
	f.df.register(cmd)
	cmd.Flags().StringVar(&f.out, "out", "probe.onnx", "probe file to write (ONNX)")
	cmd.Flags().BoolVar(&f.pregen, "pregen", false, "train the pre-generation probe (reads the prompt only) and calibrate its skip threshold")
	cmd.Flags().Float64Var(&f.holdout, "holdout", 0.3, "share of items held out (by a hash of the prompt) for evaluation and the --pregen threshold")
	cmd.Flags().Float64Var(&f.targetWrong, "target-wrong", 0.9, "--pregen: share of skipped queries the local model must get wrong")
	cmd.Flags().Float64Var(&f.delta, "delta", 0.1, "--pregen: allowed probability that the threshold's guarantee fails")
	cmd.Flags().Float64Var(&f.l2, "l2", probe.DefaultTrainOptions().L2, "ridge penalty on the standardized weights")
	settingFlags(cmd.Flags())
	return cmd
}

// trainFeatureSource returns the run's local model as a source of probe
// features, or an error naming local.backend when it cannot give them.
func trainFeatureSource(run *dataRun, backend string) (uq.Features, error) {
	fx, err := run.deps.featureSource()
	if err != nil {
		return nil, fmt.Errorf("probe train: local.backend %q: %w (probes need a backend with feature extraction and chat-template rendering, such as ollama)", backend, err)
	}
	return fx, nil
}

// probeData is the labelled feature matrix of a run.
type probeData struct {
	X       [][]float32
	y       []bool
	prompts []string
	items   int   // records run
	skipped int   // records whose text the backend rejected
	skipErr error // the first such rejection
}

// cachedFeatures is what the feature cache keeps per text.
type cachedFeatures struct {
	Features []float32 `json:"features"`
}

// featureCacheName names the feature cache for a model, its digest, the
// feature kind and the backend that computes them.
func featureCacheName(model, digest, backend string, kind probe.FeatureKind) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, model)
	return "features-" + safe + "-" + string(kind) + "-" + labelled.CacheKey("v1", model, digest, backend, string(kind))
}

// featureKey is the cache key of one item's features: what determines the
// text the probe reads (the chat template is fixed by the model digest).
func featureKey(kind probe.FeatureKind, prompt, rawAnswer string) string {
	if kind == probe.FeaturePrompt {
		return string(kind) + "\x00" + prompt
	}
	return string(kind) + "\x00" + prompt + "\x00" + rawAnswer
}

// maxRejectedFirst is how many items in a row, from the first, the backend
// may reject before collectFeatures concludes it cannot give features at all.
const maxRejectedFirst = 5

// collectFeatures computes (or reads from the cache) the features of every
// record. An item whose text the backend rejects (e.g. longer than the
// context) is left out and counted; any other error stops the run, keeping
// what was cached.
func (a *app) collectFeatures(ctx context.Context, fx uq.Features, backend string, run *dataRun, records []labelled.Record, f *probeTrainFlags) (*probeData, error) {
	kind := f.kind()
	dir, err := f.df.cacheFolder()
	if err != nil {
		return nil, err
	}
	cache, err := labelled.OpenCache(dir, featureCacheName(run.local.Name(), run.digest, backend, kind))
	if err != nil {
		return nil, err
	}
	defer cache.Close()
	cached := 0
	for _, r := range records {
		if cache.Has(featureKey(kind, r.Prompt, r.LocalRawAnswer)) {
			cached++
		}
	}
	fmt.Fprintf(a.stderr, "probe features: %s features of %d items; cached in %s (%d of %d cached)\n",
		kind, len(records), cache.Path(), cached, len(records))
	progress := newProgress(a.stderr, len(records), "probe features")
	ds := &probeData{items: len(records)}
	for i, r := range records {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("interrupted after the features of %d of %d items; every finished one is cached, re-run to continue", i, len(records))
		}
		key := featureKey(kind, r.Prompt, r.LocalRawAnswer)
		var c cachedFeatures
		if !cache.Get(key, &c) || len(c.Features) == 0 {
			c.Features, err = itemFeatures(ctx, fx, kind, r)
			switch {
			case err != nil && ctx.Err() != nil:
				return nil, fmt.Errorf("interrupted after the features of %d of %d items; every finished one is cached, re-run to continue", i, len(records))
			case errors.Is(err, models.ErrBadRequest):
				ds.skipped++
				if ds.skipErr == nil {
					ds.skipErr = fmt.Errorf("item %d: %w", r.Index, err)
				}
				if ds.skipped >= maxRejectedFirst && len(ds.X) == 0 {
					return nil, fmt.Errorf("the local backend rejected the text of the first %d items, so it probably cannot give features for this model: %w", ds.skipped, ds.skipErr)
				}
				_ = progress.Add(1)
				continue
			case err != nil:
				return nil, fmt.Errorf("features of item %d: %w", r.Index, err)
			}
			if err := cache.Put(key, c); err != nil {
				return nil, err
			}
		}
		if len(ds.X) > 0 && len(c.Features) != len(ds.X[0]) {
			return nil, fmt.Errorf("features of item %d have %d values, earlier items %d: did the local model change? delete %s and re-run",
				r.Index, len(c.Features), len(ds.X[0]), cache.Path())
		}
		ds.X = append(ds.X, c.Features)
		ds.y = append(ds.y, r.LocalCorrect)
		ds.prompts = append(ds.prompts, r.Prompt)
		_ = progress.Add(1)
	}
	if len(ds.X) == 0 {
		return nil, fmt.Errorf("no item has features: the backend rejected every text (first: %v)", ds.skipErr)
	}
	return ds, nil
}

// itemFeatures is the hidden state the probe reads for one record: the same
// texts uq.AnswerText and uq.PromptText give at serving time.
func itemFeatures(ctx context.Context, fx uq.Features, kind probe.FeatureKind, r labelled.Record) ([]float32, error) {
	msgs := []models.Message{{Role: "user", Content: r.Prompt}}
	var (
		text string
		err  error
	)
	if kind == probe.FeaturePrompt {
		text, err = uq.PromptText(ctx, fx, msgs)
	} else {
		text, err = uq.AnswerText(ctx, fx, msgs, r.LocalRawAnswer)
	}
	if err != nil {
		return nil, err
	}
	return fx.Features(ctx, text)
}

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

// probeEval is the held-out evaluation of the probe fitted without those
// items.
type probeEval struct {
	train, test         int
	testPositives       int
	auroc               *float64
	aurocErr            error
	accuracy            float64 // at p >= 0.5
	majority            float64 // accuracy of always predicting the majority class
	stats               probe.TrainStats
	thresholdResult     *calib.Result
	thresholdErr        error
	skippedRight        int // held-out items skipped at the threshold that were right locally
	thresholdGuaranteed string
}

// probeFit is what fitProbe returns: the probe to write, its metadata, and
// the held-out evaluation.
type probeFit struct {
	model *probe.Logistic
	meta  probe.Meta
	stats probe.TrainStats // of the written probe
	eval  probeEval
}

// fitProbe fits the probe on the training part, evaluates it on the held-out
// part (and, for a pre-generation probe, calibrates its threshold there),
// and returns the probe to write: refitted on all items for an answer probe,
// the training-part fit for a pre-generation probe (its threshold is
// certified for that fit only).
func fitProbe(ds *probeData, f *probeTrainFlags) (*probeFit, error) {
	opts := probe.DefaultTrainOptions()
	opts.L2 = f.l2
	pos := 0
	for _, v := range ds.y {
		if v {
			pos++
		}
	}
	if pos == 0 || pos == len(ds.y) {
		return nil, fmt.Errorf("all %d local answers are %s: a probe needs right and wrong answers to learn from (more or harder data?)",
			len(ds.y), map[bool]string{true: "right", false: "wrong"}[pos > 0])
	}
	var (
		trX, teX [][]float32
		trY, teY []bool
	)
	for i, x := range ds.X {
		if heldOut(ds.prompts[i], f.holdout) {
			teX, teY = append(teX, x), append(teY, ds.y[i])
		} else {
			trX, trY = append(trX, x), append(trY, ds.y[i])
		}
	}
	if len(teX) == 0 || len(trX) == 0 {
		return nil, fmt.Errorf("--holdout %v leaves %d items to fit and %d to evaluate on: need some of each (more data, or another --holdout)", f.holdout, len(trX), len(teX))
	}
	split, stats, err := probe.Train(trX, trY, opts)
	if err != nil {
		return nil, fmt.Errorf("fit on the %d training items: %w", len(trX), err)
	}
	ev := probeEval{train: len(trX), test: len(teX), stats: stats}
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
			ev.testPositives++
		}
	}
	ev.accuracy = float64(right) / float64(len(teX))
	ev.majority = float64(max(ev.testPositives, len(teX)-ev.testPositives)) / float64(len(teX))
	if auc, err := calib.AUROC(samples); err == nil {
		ev.auroc = &auc
	} else {
		ev.aurocErr = err
	}

	fit := &probeFit{eval: ev, meta: probe.Meta{FeatureKind: f.kind(), Label: probeLabel, Extra: map[string]string{
		extraL2:           fmt.Sprint(f.l2),
		extraHoldout:      fmt.Sprintf("%v of items, held out when sha256(prompt) < %v·2^64", f.holdout, f.holdout),
		extraHoldoutItems: fmt.Sprint(len(teX)),
	}}}
	if ev.auroc != nil {
		fit.meta.Extra[extraHoldoutAUROC] = fmt.Sprintf("%.4f", *ev.auroc)
	}
	fit.meta.Extra[extraHoldoutAcc] = fmt.Sprintf("%.4f", ev.accuracy)

	if f.pregen {
		t, err := pregenThreshold(samples, f.targetWrong, f.delta, &fit.eval)
		if err != nil {
			return nil, err
		}
		fit.meta.Threshold = t
		fit.meta.Extra[extraThresholdRule] = "skip local generation when p(local right) <= threshold"
		if t != nil {
			fit.meta.Extra[extraThresholdNote] = fit.eval.thresholdGuaranteed
		} else {
			fit.meta.Extra[extraThresholdError] = fit.eval.thresholdErr.Error()
		}
		fit.model, fit.stats = split, stats
		fit.meta.Extra[extraFittedOn] = fmt.Sprintf("the %d items not held out", len(trX))
	} else {
		all, allStats, err := probe.Train(ds.X, ds.y, opts)
		if err != nil {
			return nil, fmt.Errorf("fit on all %d items: %w", len(ds.X), err)
		}
		fit.model, fit.stats = all, allStats
		fit.meta.Extra[extraFittedOn] = fmt.Sprintf("all %d items", len(ds.X))
	}
	fit.meta.FeatureSize = fit.model.Dim()
	fit.meta.Examples, fit.meta.Positives = fit.stats.Examples, fit.stats.Positives
	return fit, nil
}

// pregenThreshold chooses the pre-generation probe's skip threshold on the
// held-out samples (Score = p(local right), Correct = local right): with
// samples {1-p, local wrong}, calib.TargetAccuracy finds the lowest score s
// such that, with probability >= 1-delta, the share of local-wrong answers
// among those with 1-p >= s is at least target. The threshold returned is
// the largest held-out p with 1-p >= s, so "skip when p <= threshold" skips
// exactly the certified held-out items. Not certifiable: nil threshold, the
// reason in ev.thresholdErr.
func pregenThreshold(samples []calib.Sample, target, delta float64, ev *probeEval) (*float64, error) {
	inv := make([]calib.Sample, len(samples))
	for i, s := range samples {
		inv[i] = calib.Sample{Score: 1 - s.Score, Correct: !s.Correct}
	}
	r, err := calib.TargetAccuracy(inv, target, delta)
	var nc *calib.NotCertifiableError
	if errors.As(err, &nc) {
		ev.thresholdErr = pregenNotCertifiable(samples, inv, nc)
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
				ev.skippedRight++
			}
		}
	}
	if t < 0 {
		return nil, errors.New("pre-generation threshold: no held-out item is skipped at the certified score (a bug)")
	}
	ev.thresholdResult = &r
	ev.thresholdGuaranteed = fmt.Sprintf(
		"With probability at least %s over the held-out draw, at least %s of the queries this probe skips (p(local right) <= %.6g) are ones the local model gets wrong, on data exchangeable with the %d held-out items (upper bound on the share it would have got right: %.4g; %d of %d held-out queries skipped, %d of them right locally).",
		probePercent(1-delta), probePercent(target), t, len(samples), r.Certificate.ErrorBound, r.Accepted, len(samples), ev.skippedRight)
	return &t, nil
}

// pregenNotCertifiable says in the pre-generation probe's terms why no
// threshold was certified. TargetAccuracy stops at its first failed test, so
// when there are enough samples it is the first candidate that failed: the
// fewest lowest-p items (ties together) that could be certified if all were
// wrong locally.
func pregenNotCertifiable(samples, inv []calib.Sample, nc *calib.NotCertifiableError) error {
	head := fmt.Sprintf("cannot certify that at least %s of skipped queries are ones the local model gets wrong, with probability %s",
		probePercent(nc.Target), probePercent(1-nc.Delta))
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

func probePercent(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", 100*v), "0"), ".") + "%"
}

func float64s(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// writeProbeFile writes the probe next to path and renames it into place,
// so a failed write never leaves a half file.
func writeProbeFile(path string, m *probe.Logistic, meta probe.Meta) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write probe: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := probe.WriteONNX(tmp, m, meta); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write probe: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil { // readable by a daemon running as another user
		return fmt.Errorf("write probe: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write probe: %w", err)
	}
	return nil
}

func (a *app) printProbe(res *probeFit, ds *probeData, f *probeTrainFlags, source string) {
	ev := res.eval
	what := "answer probe"
	if f.pregen {
		what = "pre-generation probe"
	}
	w := a.stdout
	fmt.Fprintf(w, "wrote %s: %s for local model %s\n", f.out, what, res.meta.Model)
	pos := 0
	for _, v := range ds.y {
		if v {
			pos++
		}
	}
	fmt.Fprintf(w, "items:        %d with features, %d right locally (%.1f%%)", len(ds.y), pos, 100*float64(pos)/float64(len(ds.y)))
	if ds.skipped > 0 {
		fmt.Fprintf(w, "; %d of %d left out, the backend rejected their text (first: %v)", ds.skipped, ds.items, ds.skipErr)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "features:     %s, size %d (%s)\n", res.meta.FeatureKind, res.meta.FeatureSize, source)
	fmt.Fprintf(w, "held out:     %d items (sha256 of the prompt below %v of 2^64), fitted on the other %d\n", ev.test, f.holdout, ev.train)
	auroc := "n/a (" + fmt.Sprint(ev.aurocErr) + ")"
	if ev.auroc != nil {
		auroc = fmt.Sprintf("%.3f", *ev.auroc)
	}
	fmt.Fprintf(w, "held-out AUROC %s, accuracy %.3f at p >= 0.5 (majority class %.3f; %d of %d right locally)\n",
		auroc, ev.accuracy, ev.majority, ev.testPositives, ev.test)
	fmt.Fprintf(w, "written probe: fitted on %s, %d right (%s after %d iterations, training accuracy %.3f)\n",
		res.meta.Extra[extraFittedOn], res.meta.Positives, res.stats.Status, res.stats.Iterations, res.stats.Accuracy)
	if !res.stats.Converged {
		fmt.Fprintf(a.stderr, "warning: training did not converge (%s); try a larger --l2\n", res.stats.Status)
	}
	if res.stats.Float32Error > 1e-4 {
		fmt.Fprintf(a.stderr, "warning: the probe may lose up to %.2g of probability in float32 (onnxruntime): features have large means next to their spread\n", res.stats.Float32Error)
	}
	if !f.pregen {
		return
	}
	if res.meta.Threshold == nil {
		fmt.Fprintf(w, "threshold:    none could be certified (see the warning); set probe.pregen_threshold to use this probe\n")
		fmt.Fprintf(a.stderr, "warning: no pre-generation threshold could be certified: %v. The file stores none, so serve needs probe.pregen_threshold set explicitly.\n", ev.thresholdErr)
		return
	}
	fmt.Fprintf(w, "threshold:    %.6g (skip local generation when p(local right) <= it; skipped %.1f%% of held-out queries)\n",
		*res.meta.Threshold, 100*ev.thresholdResult.Coverage)
	fmt.Fprintf(w, "\n%s\n", ev.thresholdGuaranteed)
}
