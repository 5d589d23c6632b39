package calib

import "fmt"

// CascadePoint is one operating point of a cascade.
type CascadePoint struct {
	// Threshold accepts the local answer iff score >= Threshold.
	Threshold float64 `json:"threshold"`
	// CallRate is the share of queries escalated to the cloud.
	CallRate float64 `json:"call_rate"`
	// Accuracy is the share of queries answered right by the cascade.
	Accuracy float64 `json:"accuracy"`
}

// CascadeCurve is the accuracy of a cascade against its cloud call rate,
// over every tie-respecting threshold.
type CascadeCurve struct {
	// Points are ordered by strictly increasing CallRate, from 0
	// (threshold 0, always local) to 1 (EscalateAll, always cloud).
	Points []CascadePoint `json:"points"`
	// Area is the trapezoid area under accuracy over call rate in [0, 1].
	// Random routing scores (LocalAccuracy + CloudAccuracy) / 2.
	Area float64 `json:"area"`
	// LocalAccuracy is the accuracy of always answering locally.
	LocalAccuracy float64 `json:"local_accuracy"`
	// CloudAccuracy is the accuracy of always escalating.
	CloudAccuracy float64 `json:"cloud_accuracy"`
}

// CallRateCurve computes the accuracy–call-rate curve of the cascade that
// escalates samples with score < threshold, for every threshold that
// splits the samples differently (tied scores move together). Scores must
// be in [0, 1].
func CallRateCurve(samples []CascadeSample) (CascadeCurve, error) {
	if err := checkCascadeSamples(samples); err != nil {
		return CascadeCurve{}, err
	}
	local := make([]Sample, len(samples))
	cloud := make([]bool, len(samples))
	for i, s := range samples {
		local[i] = Sample{Score: s.Score, Correct: s.LocalCorrect}
		cloud[i] = s.CloudCorrect
	}
	groups := groupScores(local, cloud, false)
	n := float64(len(samples))
	last := groups[len(groups)-1]

	c := CascadeCurve{
		LocalAccuracy: float64(last.correct) / n,
		CloudAccuracy: float64(last.cloud) / n,
	}
	c.Points = append(c.Points, CascadePoint{Threshold: 0, CallRate: 0, Accuracy: c.LocalAccuracy})
	for j, g := range groups[:len(groups)-1] {
		// Escalate every sample up to and including group j.
		c.Points = append(c.Points, CascadePoint{
			Threshold: groups[j+1].score,
			CallRate:  float64(g.n) / n,
			Accuracy:  float64(last.correct-g.correct+g.cloud) / n,
		})
	}
	c.Points = append(c.Points, CascadePoint{Threshold: EscalateAll, CallRate: 1, Accuracy: c.CloudAccuracy})
	for i := 1; i < len(c.Points); i++ {
		a, b := c.Points[i-1], c.Points[i]
		c.Area += (b.CallRate - a.CallRate) * (a.Accuracy + b.Accuracy) / 2
	}
	return c, nil
}

// MinCallRate returns the point with the smallest call rate whose accuracy
// reaches fraction (in (0, 1], e.g. 0.95) of the always-cloud accuracy.
// Only the curve's points are considered, no interpolation; the last point
// always qualifies.
func (c CascadeCurve) MinCallRate(fraction float64) (CascadePoint, error) {
	if !(fraction > 0 && fraction <= 1) {
		return CascadePoint{}, &ParamError{Name: "fraction", Value: fraction, Want: "in (0, 1]"}
	}
	if len(c.Points) == 0 {
		return CascadePoint{}, fmt.Errorf("min call rate: %w", ErrNoSamples)
	}
	// The tolerance absorbs rounding in fraction·CloudAccuracy, so that
	// e.g. 0.95 of 0.8 is reached by an accuracy of exactly 76/100.
	need := fraction*c.CloudAccuracy - 1e-12
	for _, p := range c.Points {
		if p.Accuracy >= need {
			return p, nil
		}
	}
	return c.Points[len(c.Points)-1], nil
}

// OracleAccuracy returns the accuracy and call rate of the oracle router,
// which escalates exactly the samples the local model gets wrong and the
// cloud gets right: the best any router can do.
func OracleAccuracy(samples []CascadeSample) (accuracy, callRate float64, err error) {
	if err := checkCascadeSamples(samples); err != nil {
		return 0, 0, err
	}
	right, calls := 0, 0
	for _, s := range samples {
		switch {
		case s.LocalCorrect:
			right++
		case s.CloudCorrect:
			right++
			calls++
		}
	}
	n := float64(len(samples))
	return float64(right) / n, float64(calls) / n, nil
}

// RandomRoutingAccuracy returns the expected accuracy of escalating each
// query independently with probability callRate (in [0, 1]), ignoring the
// score: (1-callRate)·local accuracy + callRate·cloud accuracy.
func RandomRoutingAccuracy(samples []CascadeSample, callRate float64) (float64, error) {
	if err := checkUnit("call_rate", callRate); err != nil {
		return 0, err
	}
	if err := checkCascadeSamples(samples); err != nil {
		return 0, err
	}
	local, cloud := 0, 0
	for _, s := range samples {
		if s.LocalCorrect {
			local++
		}
		if s.CloudCorrect {
			cloud++
		}
	}
	n := float64(len(samples))
	return (1-callRate)*float64(local)/n + callRate*float64(cloud)/n, nil
}
