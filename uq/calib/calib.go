// Package calib turns confidence scores into routing decisions and measures
// how good those scores are. It is pure math, no model calls; file.go holds
// the calibration file format.
//
// A score is a confidence in [0, 1], higher meaning more likely right. The
// cascade accepts the local answer iff score >= threshold and escalates to the
// cloud otherwise. This package picks that threshold from labelled
// calibration samples (TargetAccuracy, TargetCloudRate, CostTradeoff), maps
// scores to probabilities (Isotonic, Platt) and computes the usual metrics
// (AUROC, AUPRC, ECE, risk–coverage and accuracy–call-rate curves).
//
// Conventions shared by every function:
//   - Candidate thresholds are the distinct calibration scores. Tied scores
//     are accepted or escalated together: accepting at threshold t accepts
//     every sample with score >= t.
//   - A threshold of 0 accepts everything and EscalateAll escalates
//     everything; both are finite, so a Result always encodes as JSON.
//   - Inputs are validated; errors wrap one of the sentinel errors below.
package calib

import (
	"errors"
	"fmt"
	"math"
)

// EscalateAll is the threshold that escalates every score in [0, 1]: the
// smallest float64 above 1. It is used instead of +Inf so that results stay
// JSON-encodable. It equals math.Nextafter(1, 2).
const EscalateAll = 1 + 0x1p-52

// Sample is one labelled calibration example: the confidence the scorer gave
// the local answer and whether that answer was right.
type Sample struct {
	// Score is the confidence in [0, 1]; higher means more likely right.
	Score float64 `json:"score"`
	// Correct reports whether the local answer was right.
	Correct bool `json:"correct"`
}

// CascadeSample is one example answered by both models, used to evaluate a
// cascade: the local confidence and which of the two answers was right.
type CascadeSample struct {
	// Score is the local answer's confidence in [0, 1].
	Score float64 `json:"score"`
	// LocalCorrect reports whether the local answer was right.
	LocalCorrect bool `json:"local_correct"`
	// CloudCorrect reports whether the cloud answer was right.
	CloudCorrect bool `json:"cloud_correct"`
}

// Sentinel errors. Every error returned by this package wraps one of them.
var (
	// ErrNoSamples means the sample slice was empty.
	ErrNoSamples = errors.New("no samples")
	// ErrInvalidScore means a score was NaN, infinite or out of range.
	ErrInvalidScore = errors.New("invalid score")
	// ErrInvalidParameter means a parameter was outside its allowed range.
	ErrInvalidParameter = errors.New("invalid parameter")
	// ErrOneClass means a metric needs both right and wrong samples.
	ErrOneClass = errors.New("samples are all right or all wrong")
	// ErrNotCertifiable means no threshold met the accuracy target with the
	// required confidence; see NotCertifiableError.
	ErrNotCertifiable = errors.New("no threshold can be certified")
)

// ScoreError reports the first sample whose score is unusable.
type ScoreError struct {
	// Index is the sample's position in the input slice.
	Index int
	// Score is the offending value.
	Score float64
	// Want describes the allowed values, e.g. "in [0, 1]".
	Want string
}

func (e *ScoreError) Error() string {
	return fmt.Sprintf("invalid score: sample %d has score %v, want %s", e.Index, e.Score, e.Want)
}

// Unwrap returns ErrInvalidScore.
func (e *ScoreError) Unwrap() error { return ErrInvalidScore }

// ParamError names a parameter outside its allowed range.
type ParamError struct {
	// Name is the parameter name, e.g. "target".
	Name string
	// Value is the value given.
	Value float64
	// Want describes the allowed values, e.g. "in (0, 1)".
	Want string
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("invalid parameter: %s = %v, want %s", e.Name, e.Value, e.Want)
}

// Unwrap returns ErrInvalidParameter.
func (e *ParamError) Unwrap() error { return ErrInvalidParameter }

// NotCertifiableError explains why TargetAccuracy found no threshold.
type NotCertifiableError struct {
	// Target is the accuracy required among accepted answers.
	Target float64
	// Delta is the allowed probability that the certificate is wrong.
	Delta float64
	// Samples is the number of calibration samples given.
	Samples int
	// MinAccepted is the fewest accepted answers that could certify Target
	// at Delta, reached only if every one of them is right.
	MinAccepted int
	// Reason says what failed, e.g. "only 12 calibration samples".
	Reason string
}

func (e *NotCertifiableError) Error() string {
	return fmt.Sprintf("cannot certify accuracy %g at delta %g: %s; even with no errors at least %d accepted samples are needed",
		e.Target, e.Delta, e.Reason, e.MinAccepted)
}

// Unwrap returns ErrNotCertifiable.
func (e *NotCertifiableError) Unwrap() error { return ErrNotCertifiable }

// isFinite reports whether v is neither NaN nor infinite.
func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// checkOpenUnit checks 0 < v < 1.
func checkOpenUnit(name string, v float64) error {
	if !(v > 0 && v < 1) {
		return &ParamError{Name: name, Value: v, Want: "in (0, 1)"}
	}
	return nil
}

// checkUnit checks 0 <= v <= 1.
func checkUnit(name string, v float64) error {
	if !(v >= 0 && v <= 1) {
		return &ParamError{Name: name, Value: v, Want: "in [0, 1]"}
	}
	return nil
}

// checkNonNegative checks that v is finite and >= 0.
func checkNonNegative(name string, v float64) error {
	if !(v >= 0) || math.IsInf(v, 1) {
		return &ParamError{Name: name, Value: v, Want: "finite and >= 0"}
	}
	return nil
}

// checkScore validates one score; unit requires [0, 1], otherwise any finite
// value is accepted.
func checkScore(i int, s float64, unit bool) error {
	if unit {
		if !(s >= 0 && s <= 1) {
			return &ScoreError{Index: i, Score: s, Want: "in [0, 1]"}
		}
		return nil
	}
	if !isFinite(s) {
		return &ScoreError{Index: i, Score: s, Want: "finite"}
	}
	return nil
}

// checkSamples validates a non-empty sample slice.
func checkSamples(samples []Sample, unit bool) error {
	if len(samples) == 0 {
		return ErrNoSamples
	}
	for i, s := range samples {
		if err := checkScore(i, s.Score, unit); err != nil {
			return err
		}
	}
	return nil
}

// checkCascadeSamples validates a non-empty cascade sample slice.
func checkCascadeSamples(samples []CascadeSample) error {
	if len(samples) == 0 {
		return ErrNoSamples
	}
	for i, s := range samples {
		if err := checkScore(i, s.Score, true); err != nil {
			return err
		}
	}
	return nil
}
