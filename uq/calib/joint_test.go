package calib

import (
	"errors"
	"math/rand/v2"
	"testing"
)

var twoStageCosts = []StageCost{{Name: "weak", Latency: 0.05}, {Name: "strong", Latency: 0.17}, {Name: "cloud", Latency: 1, Price: 0.001}}

// With one local stage the joint search is TargetAccuracy.
func TestJointOneStageIsTargetAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for rep := 0; rep < 20; rep++ {
		samples := population(rng, 400)
		joint := make([]JointSample, len(samples))
		for i, s := range samples {
			joint[i] = JointSample{Scores: []float64{s.Score}, Correct: []bool{s.Correct}}
		}
		want, werr := TargetAccuracy(samples, 0.85, 0.1)
		got, gerr := JointTargetAccuracy(joint, []StageCost{{Latency: 1}, {Latency: 2}}, Objective{Target: 0.85, Delta: 0.1})
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("rep %d: TargetAccuracy error %v, joint %v", rep, werr, gerr)
		}
		if werr != nil {
			continue
		}
		if got.Thresholds[0] != want.Threshold || got.Accepted != want.Accepted || got.Paths != 1 {
			t.Errorf("rep %d: joint threshold %v (%d accepted, %d paths), TargetAccuracy %v (%d)", rep, got.Thresholds[0], got.Accepted, got.Paths, want.Threshold, want.Accepted)
		}
	}
}

// synthetic draws items of a two-stage population: the weak stage is right
// iff its score is above 0.5 and the strong one iff its score is above
// 0.3, the scores independent and uniform.
func synthetic(rng *rand.Rand, n int, strongRight func(s2 float64) bool) []JointSample {
	out := make([]JointSample, n)
	for i := range out {
		s1, s2 := rng.Float64(), rng.Float64()
		out[i] = JointSample{Scores: []float64{s1, s2}, Correct: []bool{s1 >= 0.5, strongRight(s2)}, CloudCorrect: true}
	}
	return out
}

func TestJointKnownAnswers(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	o := Objective{Target: 0.9, Delta: 0.05}

	// A strong stage that is always right: nothing goes to the cloud, and
	// of the configurations that send nothing the one with least local
	// compute lets the weak stage answer all it can.
	always := synthetic(rng, 2000, func(float64) bool { return true })
	r, err := JointTargetAccuracy(always, twoStageCosts, o)
	if err != nil {
		t.Fatal(err)
	}
	if r.CloudRate != 0 || r.StageShare[1] == 0 || r.AcceptedAccuracy < 0.9 {
		t.Errorf("always-right strong stage: %+v", r.Outcome)
	}
	if r.StageShare[0] < 0.4 {
		t.Errorf("the weak stage answers %.2f, want most of its right half (its grid is coarse)", r.StageShare[0])
	}

	// The strong stage right above 0.3: the joint configuration sends fewer
	// queries to the cloud than the weak stage alone, and keeps the target
	// on its calibration data.
	above := synthetic(rng, 2000, func(s2 float64) bool { return s2 >= 0.3 })
	r, err = JointTargetAccuracy(above, twoStageCosts, o)
	if err != nil {
		t.Fatal(err)
	}
	weakOnly := Apply(above, twoStageCosts, []float64{r.Thresholds[0], EscalateAll})
	if !(r.CloudRate < 0.6*weakOnly.CloudRate) || r.AcceptedAccuracy < 0.9 {
		t.Errorf("joint cloud rate %.3f (accuracy %.3f), weak alone %.3f", r.CloudRate, r.AcceptedAccuracy, weakOnly.CloudRate)
	}
	if r.Paths != DefaultGrid || r.ErrorBound >= 0.1 {
		t.Errorf("paths %d bound %v", r.Paths, r.ErrorBound)
	}

	// Every walk order certifies and beats the weak stage alone.
	for _, walk := range []string{WalkFirst, WalkLast, WalkBoth} {
		rw, err := JointTargetAccuracy(above, twoStageCosts, Objective{Target: 0.9, Delta: 0.05, Walk: walk})
		if err != nil || rw.AcceptedAccuracy < 0.9 || !(rw.CloudRate < weakOnly.CloudRate) {
			t.Errorf("walk %s: %v %+v", walk, err, rw.Outcome)
		}
	}
	// A cap on the cloud share that nothing certified meets.
	_, err = JointTargetAccuracy(above, twoStageCosts, Objective{Target: 0.9, Delta: 0.05, MaxCloudRate: 0.01})
	if !errors.Is(err, ErrNotCertifiable) {
		t.Errorf("impossible cap: %v", err)
	}
	// A weight on latency prefers fewer strong answers.
	lat, err := JointTargetAccuracy(above, twoStageCosts, Objective{Target: 0.9, Delta: 0.05, LatencyWeight: 1})
	if err != nil {
		t.Fatal(err)
	}
	if lat.MeanLatency > r.MeanLatency {
		t.Errorf("latency objective: mean %.3f, cloud-share objective %.3f", lat.MeanLatency, r.MeanLatency)
	}
	// Bad input.
	if _, err := JointTargetAccuracy(above, twoStageCosts[:2], o); !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("missing cloud cost: %v", err)
	}
}

// The promise holds on fresh data: calibrate on 1000 items, measure the
// accuracy of accepted local answers on 20000 fresh ones; among
// repetitions where a configuration was certified it must reach the target
// in at least 1-delta of them (with 0.05 of Monte-Carlo slack, as in
// TestTargetAccuracyGuarantee). The strong stage's P(right) rises with its
// score, so loose thresholds are genuinely wrong.
func TestJointGuarantee(t *testing.T) {
	if testing.Short() {
		t.Skip("Monte-Carlo")
	}
	const (
		reps   = 150
		target = 0.9
		delta  = 0.1
	)
	rng := rand.New(rand.NewPCG(5, 6))
	draw := func(n int) []JointSample {
		out := make([]JointSample, n)
		for i := range out {
			s1, s2 := rng.Float64(), rng.Float64()
			out[i] = JointSample{Scores: []float64{s1, s2}, Correct: []bool{rng.Float64() < 0.5+0.5*s1, rng.Float64() < 0.6+0.4*s2}}
		}
		return out
	}
	certified, bad := 0, 0
	for rep := 0; rep < reps; rep++ {
		r, err := JointTargetAccuracy(draw(1000), twoStageCosts, Objective{Target: target, Delta: delta, Grid: 6})
		if err != nil {
			continue
		}
		certified++
		if Apply(draw(20000), twoStageCosts, r.Thresholds).AcceptedAccuracy < target {
			bad++
		}
	}
	if certified < reps/2 {
		t.Fatalf("only %d of %d repetitions certified", certified, reps)
	}
	if rate := float64(bad) / float64(certified); rate > delta+0.05 {
		t.Errorf("promise broken in %d of %d certified repetitions (%.3f > %.2f)", bad, certified, rate, delta+0.05)
	}
	t.Logf("%d certified, %d below target on fresh data", certified, bad)
}

// Stage by stage, each stage's threshold is certified on what reaches it.
func TestStageByStage(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	samples := synthetic(rng, 2000, func(s2 float64) bool { return s2 >= 0.3 })
	th, err := StageByStage(samples, 0.9, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	if len(th) != 2 || th[0] < 0.4 || th[0] > 0.55 || th[1] < 0.2 || th[1] > 0.35 {
		t.Errorf("thresholds %v, want about 0.5 and 0.3", th)
	}
	if out := Apply(samples, twoStageCosts, th); out.AcceptedAccuracy < 0.9 {
		t.Errorf("accepted accuracy %.3f", out.AcceptedAccuracy)
	}
}
