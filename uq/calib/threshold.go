package calib

import (
	"cmp"
	"fmt"
	"slices"
)

// Method names a threshold-selection method, as stored in a Result.
type Method string

// Threshold-selection methods.
const (
	// MethodTargetAccuracy is TargetAccuracy.
	MethodTargetAccuracy Method = "target_accuracy"
	// MethodTargetCloudRate is TargetCloudRate.
	MethodTargetCloudRate Method = "target_cloud_rate"
	// MethodCostTradeoff is CostTradeoff.
	MethodCostTradeoff Method = "cost_tradeoff"
)

// Result is a chosen threshold and what it achieves on the calibration set.
// The policy is: accept the local answer iff score >= Threshold.
type Result struct {
	// Threshold is the chosen threshold: 0 accepts everything, EscalateAll
	// escalates everything, anything else is a calibration score.
	Threshold float64 `json:"threshold"`
	// Method is the method that chose it.
	Method Method `json:"method"`
	// Samples is the number of calibration samples.
	Samples int `json:"samples"`
	// Accepted is the number of calibration samples accepted.
	Accepted int `json:"accepted"`
	// Coverage is Accepted / Samples, the share answered locally.
	Coverage float64 `json:"coverage"`
	// CloudRate is 1 - Coverage, the share escalated.
	CloudRate float64 `json:"cloud_rate"`
	// AcceptedAccuracy is the share of accepted samples that are right; 0
	// when nothing is accepted.
	AcceptedAccuracy float64 `json:"accepted_accuracy"`
	// Certificate is set by TargetAccuracy only.
	Certificate *Certificate `json:"certificate,omitempty"`
	// Tradeoff is set by CostTradeoff only.
	Tradeoff *TradeoffOutcome `json:"tradeoff,omitempty"`
	// Guarantee says in one sentence what the threshold promises.
	Guarantee string `json:"guarantee"`
}

// Certificate is the statistical guarantee behind a TargetAccuracy result.
type Certificate struct {
	// Target is the certified accuracy among accepted answers.
	Target float64 `json:"target"`
	// Delta is the allowed probability that the certificate is wrong.
	Delta float64 `json:"delta"`
	// ErrorBound is the Clopper–Pearson upper bound, at level 1-Delta, on
	// the error rate among accepted answers at the chosen threshold; it is
	// below 1-Target.
	ErrorBound float64 `json:"error_bound"`
}

// TradeoffOutcome is the objective a CostTradeoff result maximizes,
// evaluated on the calibration set.
type TradeoffOutcome struct {
	// Accuracy is the expected accuracy of the whole cascade: local answers
	// where accepted, the cloud's where escalated.
	Accuracy float64 `json:"accuracy"`
	// Cost is LocalCost + CloudRate·CloudCost.
	Cost float64 `json:"cost"`
	// Objective is Accuracy - Lambda·Cost.
	Objective float64 `json:"objective"`
}

// Tradeoff parameterizes CostTradeoff.
type Tradeoff struct {
	// Lambda is the accuracy one unit of cost is worth; >= 0.
	Lambda float64 `json:"lambda"`
	// LocalCost is the cost of every query (the local model always runs);
	// >= 0. It shifts the objective but not the chosen threshold.
	LocalCost float64 `json:"local_cost"`
	// CloudCost is the extra cost of one escalated query; >= 0.
	CloudCost float64 `json:"cloud_cost"`
	// CloudAccuracy is the probability, in [0, 1], that the cloud answers an
	// escalated query right. Ignored when CloudCorrect is set.
	CloudAccuracy float64 `json:"cloud_accuracy"`
	// CloudCorrect optionally gives, parallel to the samples, whether the
	// cloud answered each one right. When set (non-nil) it must have one
	// entry per sample and replaces CloudAccuracy.
	CloudCorrect []bool `json:"cloud_correct,omitempty"`
}

// group is a run of samples with the same score, with cumulative counts
// over all samples up to and including the run in the sort order.
type group struct {
	score   float64
	n       int // samples up to and including this run
	correct int // correct samples among them
	cloud   int // cloud-correct samples among them (CostTradeoff only)
}

// groupScores sorts a copy of the samples by score (descending if desc) and
// returns the tie runs with cumulative counts. cloud, if non-nil, is
// parallel to samples.
func groupScores(samples []Sample, cloud []bool, desc bool) []group {
	idx := make([]int, len(samples))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if desc {
			return cmp.Compare(samples[b].Score, samples[a].Score)
		}
		return cmp.Compare(samples[a].Score, samples[b].Score)
	})
	var groups []group
	n, correct, cloudRight := 0, 0, 0
	for _, i := range idx {
		s := samples[i]
		n++
		if s.Correct {
			correct++
		}
		if cloud != nil && cloud[i] {
			cloudRight++
		}
		g := group{score: s.Score, n: n, correct: correct, cloud: cloudRight}
		if last := len(groups) - 1; last >= 0 && groups[last].score == s.Score {
			groups[last] = g
		} else {
			groups = append(groups, g)
		}
	}
	return groups
}

// newResult fills the calibration-set numbers of a Result.
func newResult(m Method, threshold float64, n, accepted, correct int) Result {
	r := Result{
		Threshold: threshold,
		Method:    m,
		Samples:   n,
		Accepted:  accepted,
		Coverage:  float64(accepted) / float64(n),
		CloudRate: float64(n-accepted) / float64(n),
	}
	if accepted > 0 {
		r.AcceptedAccuracy = float64(correct) / float64(accepted)
	}
	return r
}

// TargetAccuracy returns the lowest threshold (the most local answers) at
// which the accuracy of accepted answers is certified to be at least target
// with probability at least 1-delta, by Learn-then-Test fixed-sequence
// testing (Angelopoulos et al., 2021).
//
// The candidates are the distinct calibration scores, walked from the
// highest down. At each candidate t the null hypothesis "error among
// answers with score >= t exceeds 1-target" is rejected when the
// Clopper–Pearson upper bound (level 1-delta) on the error of the accepted
// calibration samples is below 1-target. The walk stops at the first
// candidate not rejected, and the last rejected candidate is returned.
// Because the hypotheses are tested in a fixed order, each at level delta,
// the family-wise error is at most delta: on exchangeable data, with
// probability >= 1-delta every certified threshold, the returned one
// included, has accepted-answer accuracy >= target.
//
// Candidates that accept fewer than MinAccepted(target, delta) samples are
// skipped rather than treated as failures: they could not be certified
// even with no errors, and without the skip the walk would always stop at
// the top score when scores are continuous. The skip depends on the scores
// only, not the labels; it keeps the guarantee when P(right | score) is
// non-decreasing in the score, which is what makes a score a confidence.
// The returned threshold is always a calibration score (the most
// conservative threshold that accepts the certified set); accepting
// nothing is never returned.
//
// If no candidate is certified it returns a *NotCertifiableError that says
// why and how many samples would be needed at best. Scores must be in
// [0, 1]; target and delta in (0, 1).
func TargetAccuracy(samples []Sample, target, delta float64) (Result, error) {
	if err := checkOpenUnit("target", target); err != nil {
		return Result{}, err
	}
	if err := checkOpenUnit("delta", delta); err != nil {
		return Result{}, err
	}
	if err := checkSamples(samples, true); err != nil {
		return Result{}, err
	}
	n := len(samples)
	alpha := 1 - target
	need := minAccepted(target, delta)
	notCert := func(reason string) error {
		return &NotCertifiableError{Target: target, Delta: delta, Samples: n, MinAccepted: need, Reason: reason}
	}
	if n < need {
		plural := "s"
		if n == 1 {
			plural = ""
		}
		return Result{}, notCert(fmt.Sprintf("only %d calibration sample%s", n, plural))
	}

	best, bestBound := -1, 0.0
	groups := groupScores(samples, nil, true)
	for j, g := range groups {
		if g.n < need {
			continue // untestable: cannot be certified whatever the labels
		}
		b := cpUpper(g.n-g.correct, g.n, delta)
		if !(b < alpha) {
			if best < 0 {
				return Result{}, notCert(fmt.Sprintf(
					"the %d highest-scoring samples (score >= %.4g) have %d errors, error bound %.4g >= %.4g",
					g.n, g.score, g.n-g.correct, b, alpha))
			}
			break
		}
		best, bestBound = j, b
	}

	g := groups[best]
	r := newResult(MethodTargetAccuracy, g.score, n, g.n, g.correct)
	r.Certificate = &Certificate{Target: target, Delta: delta, ErrorBound: bestBound}
	r.Guarantee = fmt.Sprintf(
		"With probability at least %s over the calibration draw, at least %s of accepted answers are right on data exchangeable with the %d calibration samples (error bound %.4g at threshold %.4g, %.1f%% accepted).",
		percent(1-delta), percent(target), n, bestBound, g.score, 100*r.Coverage)
	return r, nil
}

// TargetCloudRate returns the threshold whose share of escalated
// calibration samples (score < threshold) is as large as possible without
// exceeding rate, as in RouteLLM. Tied scores are escalated together, so
// the achieved CloudRate can be below rate.
//
// When no sample is escalated the threshold is 0 (never escalate, also on
// fresh data: rate 0 accepts everything); when all are it is EscalateAll
// (rate 1 escalates everything); otherwise it is the calibration score at
// which escalation stops. It gives no accuracy guarantee. Scores must be in
// [0, 1]; rate in [0, 1].
func TargetCloudRate(samples []Sample, rate float64) (Result, error) {
	if err := checkUnit("rate", rate); err != nil {
		return Result{}, err
	}
	if err := checkSamples(samples, true); err != nil {
		return Result{}, err
	}
	n := len(samples)
	groups := groupScores(samples, nil, false)
	escalated, correctEscalated := 0, 0
	for _, g := range groups {
		if float64(g.n)/float64(n) > rate {
			break
		}
		escalated, correctEscalated = g.n, g.correct
	}
	correct := groups[len(groups)-1].correct
	r := newResult(MethodTargetCloudRate, ascendingThreshold(groups, escalated), n, n-escalated, correct-correctEscalated)
	r.Guarantee = fmt.Sprintf(
		"About %s of queries are escalated to the cloud (%.1f%% of the %d calibration samples, target %s); no accuracy guarantee.",
		percent(r.CloudRate), 100*r.CloudRate, n, percent(rate))
	return r, nil
}

// ascendingThreshold returns the threshold that escalates exactly the first
// `escalated` samples of the ascending groups: 0 for none, EscalateAll for
// all, else the score of the first group kept local.
func ascendingThreshold(groups []group, escalated int) float64 {
	if escalated == 0 {
		return 0
	}
	for _, g := range groups {
		if g.n > escalated {
			return g.score
		}
	}
	return EscalateAll
}

// CostTradeoff returns the threshold maximizing, on the calibration set,
//
//	accuracy - Lambda·(LocalCost + cloudRate·CloudCost)
//
// where accuracy counts the local answer for accepted samples and the
// cloud's for escalated ones: each escalated sample's CloudCorrect label
// when given, otherwise CloudAccuracy. Every tie-respecting split is
// considered, from accepting everything (threshold 0) to escalating
// everything (EscalateAll); among equal objectives the cheaper (fewer
// escalations) wins. It gives no guarantee on fresh data. Scores must be in
// [0, 1].
func CostTradeoff(samples []Sample, t Tradeoff) (Result, error) {
	for _, p := range []struct {
		name string
		v    float64
	}{{"lambda", t.Lambda}, {"local_cost", t.LocalCost}, {"cloud_cost", t.CloudCost}} {
		if err := checkNonNegative(p.name, p.v); err != nil {
			return Result{}, err
		}
	}
	if t.CloudCorrect == nil {
		if err := checkUnit("cloud_accuracy", t.CloudAccuracy); err != nil {
			return Result{}, err
		}
	} else if len(t.CloudCorrect) != len(samples) {
		return Result{}, fmt.Errorf("%w: cloud_correct has %d entries for %d samples",
			ErrInvalidParameter, len(t.CloudCorrect), len(samples))
	}
	if err := checkSamples(samples, true); err != nil {
		return Result{}, err
	}
	n := len(samples)
	groups := groupScores(samples, t.CloudCorrect, false)
	correct := groups[len(groups)-1].correct

	// eval scores escalating the first g.n samples (g zero: none).
	eval := func(g group) TradeoffOutcome {
		cloudRight := t.CloudAccuracy * float64(g.n)
		if t.CloudCorrect != nil {
			cloudRight = float64(g.cloud)
		}
		rate := float64(g.n) / float64(n)
		o := TradeoffOutcome{
			Accuracy: (float64(correct-g.correct) + cloudRight) / float64(n),
			Cost:     t.LocalCost + rate*t.CloudCost,
		}
		o.Objective = o.Accuracy - t.Lambda*o.Cost
		return o
	}
	bestG, best := group{}, eval(group{})
	for _, g := range groups {
		o := eval(g)
		// The tolerance absorbs rounding so that exact ties keep the
		// cheaper split.
		if o.Objective > best.Objective+1e-12 {
			bestG, best = g, o
		}
	}
	r := newResult(MethodCostTradeoff, ascendingThreshold(groups, bestG.n), n, n-bestG.n, correct-bestG.correct)
	r.Tradeoff = &best
	r.Guarantee = fmt.Sprintf(
		"Maximizes accuracy - %g·cost on the %d calibration samples (cascade accuracy %.4g, cost %.4g, %.1f%% escalated); no guarantee on fresh data.",
		t.Lambda, n, best.Accuracy, best.Cost, 100*r.CloudRate)
	return r, nil
}

// percent formats a share as a percentage without trailing zeros.
func percent(v float64) string {
	return fmt.Sprintf("%s%%", trimFloat(100*v))
}

// trimFloat formats v with up to 4 decimals and no trailing zeros.
func trimFloat(v float64) string {
	s := fmt.Sprintf("%.4f", v)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}
