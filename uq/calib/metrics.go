package calib

import "fmt"

// classCounts returns the numbers of right and wrong samples.
func classCounts(samples []Sample) (pos, neg int) {
	for _, s := range samples {
		if s.Correct {
			pos++
		}
	}
	return pos, len(samples) - pos
}

// AUROC returns the area under the ROC curve of the score as a detector of
// right answers: the probability that a random right answer scores higher
// than a random wrong one, ties counting one half (the Mann–Whitney U
// statistic divided by N₊·N₋). Scores must be finite; both classes must be
// present (ErrOneClass otherwise).
func AUROC(samples []Sample) (float64, error) {
	if err := checkSamples(samples, false); err != nil {
		return 0, err
	}
	pos, neg := classCounts(samples)
	if pos == 0 || neg == 0 {
		return 0, fmt.Errorf("auroc: %w", ErrOneClass)
	}
	// Sum of mid-ranks (1-based) of right answers; tied scores share the
	// mean of their ranks.
	rankSum := 0.0
	groups := groupScores(samples, nil, false)
	prevN, prevCorrect := 0, 0
	for _, g := range groups {
		midRank := float64(prevN+1+g.n) / 2
		rankSum += midRank * float64(g.correct-prevCorrect)
		prevN, prevCorrect = g.n, g.correct
	}
	p, q := float64(pos), float64(neg)
	return (rankSum - p*(p+1)/2) / (p * q), nil
}

// AUPRC returns the average precision of the score as a detector of right
// answers: the sum over distinct score thresholds, highest first, of
// precision times the gain in recall, tied scores forming one threshold
// (as scikit-learn's average_precision_score). Scores must be finite; at
// least one right answer is needed (ErrOneClass otherwise).
func AUPRC(samples []Sample) (float64, error) {
	if err := checkSamples(samples, false); err != nil {
		return 0, err
	}
	pos, _ := classCounts(samples)
	if pos == 0 {
		return 0, fmt.Errorf("auprc: %w", ErrOneClass)
	}
	ap, prevRecall := 0.0, 0.0
	for _, g := range groupScores(samples, nil, true) {
		recall := float64(g.correct) / float64(pos)
		precision := float64(g.correct) / float64(g.n)
		ap += (recall - prevRecall) * precision
		prevRecall = recall
	}
	return ap, nil
}

// ReliabilityBin is one bin of a reliability diagram.
type ReliabilityBin struct {
	// Lower and Upper bound the bin: [Lower, Upper), the last bin also
	// holding 1.
	Lower float64 `json:"lower"`
	// Upper is the bin's upper edge.
	Upper float64 `json:"upper"`
	// Count is the number of samples in the bin.
	Count int `json:"count"`
	// MeanScore is the mean score in the bin (0 if empty).
	MeanScore float64 `json:"mean_score"`
	// Accuracy is the share right in the bin (0 if empty).
	Accuracy float64 `json:"accuracy"`
}

// Reliability is the expected calibration error and the reliability
// diagram it was computed from.
type Reliability struct {
	// ECE is the sum over bins of Count/N·|Accuracy - MeanScore|.
	ECE float64 `json:"ece"`
	// MCE is the largest |Accuracy - MeanScore| over non-empty bins.
	MCE float64 `json:"mce"`
	// Bins holds every bin, empty ones included, in increasing order.
	Bins []ReliabilityBin `json:"bins"`
}

// ECE computes the expected calibration error of scores read as
// probabilities of being right, with the given number of equal-width bins
// over [0, 1]. Scores must be in [0, 1]; bins >= 1.
func ECE(samples []Sample, bins int) (Reliability, error) {
	if bins < 1 {
		return Reliability{}, &ParamError{Name: "bins", Value: float64(bins), Want: ">= 1"}
	}
	if err := checkSamples(samples, true); err != nil {
		return Reliability{}, err
	}
	out := Reliability{Bins: make([]ReliabilityBin, bins)}
	sums := make([]float64, bins)
	right := make([]int, bins)
	for _, s := range samples {
		i := min(int(s.Score*float64(bins)), bins-1)
		out.Bins[i].Count++
		sums[i] += s.Score
		if s.Correct {
			right[i]++
		}
	}
	n := float64(len(samples))
	for i := range out.Bins {
		b := &out.Bins[i]
		b.Lower = float64(i) / float64(bins)
		b.Upper = float64(i+1) / float64(bins)
		if b.Count == 0 {
			continue
		}
		b.MeanScore = sums[i] / float64(b.Count)
		b.Accuracy = float64(right[i]) / float64(b.Count)
		gap := b.Accuracy - b.MeanScore
		if gap < 0 {
			gap = -gap
		}
		out.ECE += float64(b.Count) / n * gap
		out.MCE = max(out.MCE, gap)
	}
	return out, nil
}

// RiskCoveragePoint is one point of a risk–coverage curve.
type RiskCoveragePoint struct {
	// Threshold accepts samples with score >= Threshold.
	Threshold float64 `json:"threshold"`
	// Accepted is the number of samples accepted.
	Accepted int `json:"accepted"`
	// Coverage is the share of samples accepted.
	Coverage float64 `json:"coverage"`
	// Risk is the share of accepted samples that are wrong.
	Risk float64 `json:"risk"`
}

// RiskCoverage returns the risk–coverage curve of selective prediction,
// accepting the highest-confidence samples first: one point per distinct
// score, from the highest (lowest coverage) down to the lowest (coverage
// 1). Scores must be finite.
func RiskCoverage(samples []Sample) ([]RiskCoveragePoint, error) {
	if err := checkSamples(samples, false); err != nil {
		return nil, err
	}
	groups := groupScores(samples, nil, true)
	points := make([]RiskCoveragePoint, len(groups))
	for i, g := range groups {
		points[i] = RiskCoveragePoint{
			Threshold: g.score,
			Accepted:  g.n,
			Coverage:  float64(g.n) / float64(len(samples)),
			Risk:      float64(g.n-g.correct) / float64(g.n),
		}
	}
	return points, nil
}
