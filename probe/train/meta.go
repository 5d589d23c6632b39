// Package train trains hidden-state probes on labelled data: it collects
// the local model's features for labelled records (cached beside the
// answers), splits the items by a hash of their prompt, fits a probe
// (package probe) on one part and evaluates it on the other, and, for a
// pre-generation probe, certifies its skip threshold on the held-out part.
// `edgecascade probe train` is its command line.
//
// It does not load onnxruntime: training, writing and the evaluation are
// pure Go.
package train

import "github.com/edgecascade/edgecascade/probe"

// Label is what a probe's positive label means: its output is the
// probability that the local model's answer is right.
const Label = "local_correct"

// featureSources describes, per local.backend, where probe features come
// from; it is stored in the probe file.
var featureSources = map[string]string{
	"ollama":          "ollama /api/embed (L2-normalized)",
	"llamacpp-server": "llama-server /embedding, mean-pooled (L2-normalized)",
	"llamacpp":        "in-process llama.cpp, last token (L2-normalized)",
}

// FeatureSource describes where a local backend's probe features come from,
// for the probe file; the backend's name when it is not known.
func FeatureSource(backend string) string {
	if s := featureSources[backend]; s != "" {
		return s
	}
	return backend
}

// Metadata keys training adds to a probe file (probe.Meta.Extra).
const (
	ExtraData           = "edgecascade.data"
	ExtraDataHash       = "edgecascade.data_sha256"
	ExtraDigest         = "edgecascade.local_digest"
	ExtraFeatureSource  = "edgecascade.feature_source"
	ExtraMatcher        = "edgecascade.matcher"
	ExtraL2             = "edgecascade.l2"
	ExtraFittedOn       = "edgecascade.fitted_on"
	ExtraHoldout        = "edgecascade.holdout"
	ExtraHoldoutItems   = "edgecascade.holdout_items"
	ExtraHoldoutAUROC   = "edgecascade.holdout_auroc"
	ExtraHoldoutAcc     = "edgecascade.holdout_accuracy"
	ExtraThresholdRule  = "edgecascade.threshold_rule"
	ExtraThresholdNote  = "edgecascade.threshold_guarantee"
	ExtraThresholdError = "edgecascade.threshold_error"
)

// Options are the choices of a training run.
type Options struct {
	// Pregen trains a pre-generation probe (reads the prompt only) and
	// certifies its skip threshold; otherwise an answer probe.
	Pregen bool
	// Holdout is the share of items held out (by a hash of the prompt) for
	// the evaluation and the pre-generation threshold, in (0, 1).
	Holdout float64
	// TargetWrong is the share of skipped queries the local model must get
	// wrong, and Delta the allowed probability that this guarantee fails
	// (pre-generation probe only).
	TargetWrong, Delta float64
	// L2 is the ridge penalty on the standardized weights.
	L2 float64
}

// Kind is the feature kind the probe reads.
func (o Options) Kind() probe.FeatureKind {
	if o.Pregen {
		return probe.FeaturePrompt
	}
	return probe.FeatureAnswer
}
