package calib

import (
	"math/rand/v2"
	"testing"
)

// population draws n samples from a synthetic population: score uniform on
// [0, 1] and P(right | score) = 0.5 + 0.5·score, so the accuracy of answers
// with score >= t is exactly 0.75 + 0.25·t and the lowest threshold with
// accuracy 0.9 is t* = 0.6 (coverage 40%).
func population(rng *rand.Rand, n int) []Sample {
	out := make([]Sample, n)
	for i := range out {
		s := rng.Float64()
		out[i] = Sample{Score: s, Correct: rng.Float64() < 0.5+0.5*s}
	}
	return out
}

// acceptedAccuracy returns the share right among samples with score >= t.
func acceptedAccuracy(samples []Sample, t float64) (float64, int) {
	accepted, right := 0, 0
	for _, s := range samples {
		if s.Score >= t {
			accepted++
			if s.Correct {
				right++
			}
		}
	}
	if accepted == 0 {
		return 1, 0
	}
	return float64(right) / float64(accepted), accepted
}

// TestTargetAccuracyGuarantee checks the promise of TargetAccuracy on
// repeated random splits: calibrate on 500 samples, then measure the
// accuracy of accepted answers on 5000 fresh ones. Among repetitions where
// a threshold was certified, the fresh accuracy must reach the target in at
// least 1-delta of them.
//
// Monte-Carlo slack: the count of failures over ~240 certified repetitions
// is itself random (standard deviation about sqrt(0.1·0.9/240) ≈ 0.02 at
// the worst allowed rate delta = 0.1), and the fresh accuracy is measured
// on roughly 900 accepted answers, so it can fall a little below the
// target even when the population accuracy is above it (standard deviation
// about 0.01). We therefore allow 0.05 on top of delta. In practice the
// observed failure rate is about 0.03–0.05: the procedure is conservative.
//
// As a control that the check has teeth, the naive rule "lowest threshold
// whose calibration accuracy reaches the target" fails about half the time
// and must fail in more than 3·delta of the repetitions.
//
// Strictly, Learn-then-Test bounds the unconditional probability of
// certifying a bad threshold, P(certified and bad) <= delta; the
// conditional rate checked here is that divided by P(certified), which is
// about 0.8 at this size, so we also check the unconditional rate.
func TestTargetAccuracyGuarantee(t *testing.T) {
	const (
		reps   = 300
		nCal   = 500
		nTest  = 5000
		target = 0.9
		delta  = 0.1
		slack  = 0.05
	)
	var certified, failed, trueFailed, naiveFailed int
	coverage := 0.0
	for rep := range reps {
		rng := rand.New(rand.NewPCG(20240601, uint64(rep)))
		cal, test := population(rng, nCal), population(rng, nTest)

		if thr, ok := naiveThreshold(cal, target); ok {
			if acc, _ := acceptedAccuracy(test, thr); acc < target {
				naiveFailed++
			}
		}

		r, err := TargetAccuracy(cal, target, delta)
		if err != nil {
			continue
		}
		certified++
		acc, accepted := acceptedAccuracy(test, r.Threshold)
		coverage += float64(accepted) / nTest
		if acc < target {
			failed++
		}
		if 0.75+0.25*r.Threshold < target { // exact population accuracy
			trueFailed++
		}
	}
	if certified < reps/2 {
		t.Fatalf("only %d of %d repetitions certified a threshold", certified, reps)
	}
	rate := float64(failed) / float64(certified)
	t.Logf("certified %d/%d, fresh failures %d (%.3f), population failures %d, mean coverage %.3f (best possible 0.4), naive failures %d",
		certified, reps, failed, rate, trueFailed, coverage/float64(certified), naiveFailed)
	if rate > delta+slack {
		t.Errorf("fresh accuracy below target in %.3f of certified repetitions, want <= %v + %v", rate, delta, slack)
	}
	if uncond := float64(trueFailed) / reps; uncond > delta+slack {
		t.Errorf("population accuracy below target in %.3f of all repetitions, want <= %v + %v", uncond, delta, slack)
	}
	if naive := float64(naiveFailed) / reps; naive <= 3*delta {
		t.Errorf("control: naive rule failed in only %.3f of repetitions; the check has no power", naive)
	}
}

// naiveThreshold is the uncertified rule: the lowest calibration score whose
// accepted calibration accuracy reaches the target.
func naiveThreshold(samples []Sample, target float64) (float64, bool) {
	groups := groupScores(samples, nil, true)
	best, ok := 0.0, false
	for _, g := range groups {
		if float64(g.correct)/float64(g.n) >= target {
			best, ok = g.score, true
		}
	}
	return best, ok
}
