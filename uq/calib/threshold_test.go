package calib

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// run builds samples from a score and a pattern of 'T' (right) and 'F'
// (wrong), scores falling by step from start.
func run(start, step float64, pattern string) []Sample {
	out := make([]Sample, len(pattern))
	for i, c := range pattern {
		out[i] = Sample{Score: start - float64(i)*step, Correct: c == 'T'}
	}
	return out
}

// same builds n samples with one score, the first right ones correct.
func same(score float64, n, right int) []Sample {
	out := make([]Sample, n)
	for i := range out {
		out[i] = Sample{Score: score, Correct: i < right}
	}
	return out
}

// concat joins sample slices.
func concat(parts ...[]Sample) []Sample {
	var out []Sample
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// checkResult verifies a Result's calibration numbers by direct counting.
func checkResult(t *testing.T, samples []Sample, r Result) {
	t.Helper()
	accepted, right := 0, 0
	for _, s := range samples {
		if s.Score >= r.Threshold {
			accepted++
			if s.Correct {
				right++
			}
		}
	}
	if r.Samples != len(samples) || r.Accepted != accepted {
		t.Errorf("samples/accepted = %d/%d, want %d/%d", r.Samples, r.Accepted, len(samples), accepted)
	}
	if !approx(r.Coverage, float64(accepted)/float64(len(samples)), 1e-12) ||
		!approx(r.CloudRate, 1-r.Coverage, 1e-12) {
		t.Errorf("coverage %v, cloud rate %v inconsistent with %d accepted", r.Coverage, r.CloudRate, accepted)
	}
	wantAcc := 0.0
	if accepted > 0 {
		wantAcc = float64(right) / float64(accepted)
	}
	if !approx(r.AcceptedAccuracy, wantAcc, 1e-12) {
		t.Errorf("accepted accuracy %v, want %v", r.AcceptedAccuracy, wantAcc)
	}
	if r.Guarantee == "" || strings.Count(r.Guarantee, ". ") > 0 {
		t.Errorf("guarantee %q is not one sentence", r.Guarantee)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Errorf("result not JSON-encodable: %v", err)
	}
}

func TestTargetAccuracy(t *testing.T) {
	tests := []struct {
		name         string
		samples      []Sample
		target       float64
		delta        float64
		wantThr      float64
		wantAccepted int
		wantBound    float64 // NaN: not checked
	}{
		{
			name:    "all right accepts everything",
			samples: run(0.99, 0.01, strings.Repeat("T", 40)),
			target:  0.9, delta: 0.1,
			wantThr: 0.60, wantAccepted: 40,
			wantBound: 1 - math.Pow(0.1, 1.0/40),
		},
		{
			// 25 right, one wrong at 0.74, 30 right below. With 1 error in
			// 26 the bound is 0.14 >= 0.1, so the walk stops there even
			// though lower thresholds (1 error in 56, bound 0.07) would pass.
			name:    "fixed sequence stops at first failure",
			samples: run(0.99, 0.01, strings.Repeat("T", 25)+"F"+strings.Repeat("T", 30)),
			target:  0.9, delta: 0.1,
			wantThr: 0.75, wantAccepted: 25,
			wantBound: 1 - math.Pow(0.1, 1.0/25),
		},
		{
			name:    "ties accepted together",
			samples: concat(same(0.9, 30, 30), same(0.5, 10, 5)),
			target:  0.9, delta: 0.1,
			wantThr: 0.9, wantAccepted: 30,
			wantBound: 1 - math.Pow(0.1, 1.0/30),
		},
		{
			name:    "one tie group holds everything",
			samples: same(0.7, 100, 98),
			target:  0.9, delta: 0.05,
			wantThr: 0.7, wantAccepted: 100,
			wantBound: math.NaN(),
		},
		{
			name:    "scores of exactly 1 and 0",
			samples: concat(same(1, 60, 60), same(0, 50, 0)),
			target:  0.95, delta: 0.05,
			wantThr: 1, wantAccepted: 60,
			wantBound: 1 - math.Pow(0.05, 1.0/60),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := TargetAccuracy(tt.samples, tt.target, tt.delta)
			if err != nil {
				t.Fatal(err)
			}
			if !approx(r.Threshold, tt.wantThr, 1e-12) || r.Accepted != tt.wantAccepted {
				t.Errorf("threshold %v accepting %d, want %v accepting %d", r.Threshold, r.Accepted, tt.wantThr, tt.wantAccepted)
			}
			if r.Method != MethodTargetAccuracy || r.Certificate == nil {
				t.Fatalf("method %q, certificate %v", r.Method, r.Certificate)
			}
			c := r.Certificate
			if c.Target != tt.target || c.Delta != tt.delta || !(c.ErrorBound < 1-tt.target) {
				t.Errorf("certificate %+v does not certify target %v", *c, tt.target)
			}
			if !math.IsNaN(tt.wantBound) && !approx(c.ErrorBound, tt.wantBound, 1e-9) {
				t.Errorf("bound %v, want %v", c.ErrorBound, tt.wantBound)
			}
			if !strings.Contains(r.Guarantee, percent(tt.target)) {
				t.Errorf("guarantee %q does not name the target", r.Guarantee)
			}
			checkResult(t, tt.samples, r)
		})
	}
}

func TestTargetAccuracyNotCertifiable(t *testing.T) {
	tests := []struct {
		name       string
		samples    []Sample
		target     float64
		delta      float64
		wantNeed   int
		wantReason string
	}{
		{"tiny sample all right", run(0.99, 0.01, strings.Repeat("T", 10)), 0.9, 0.05, 29, "only 10 calibration samples"},
		{"single sample", run(0.9, 0, "T"), 0.5, 0.1, 4, "only 1 calibration sample;"},
		{"all wrong", run(0.99, 0.005, strings.Repeat("F", 100)), 0.9, 0.1, 22, "22 highest-scoring samples"},
		{"error among the top", run(0.99, 0.005, "TTTF"+strings.Repeat("T", 96)), 0.9, 0.1, 22, "have 1 errors"},
		{"top tie group too noisy", concat(same(0.9, 40, 30), same(0.1, 60, 60)), 0.9, 0.1, 22, "score >= 0.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := TargetAccuracy(tt.samples, tt.target, tt.delta)
			if err == nil {
				t.Fatalf("got threshold %v, want NotCertifiableError", r.Threshold)
			}
			var nc *NotCertifiableError
			if !errors.As(err, &nc) || !errors.Is(err, ErrNotCertifiable) {
				t.Fatalf("err = %v, want *NotCertifiableError", err)
			}
			if nc.MinAccepted != tt.wantNeed || nc.Samples != len(tt.samples) {
				t.Errorf("need %d of %d, want %d of %d", nc.MinAccepted, nc.Samples, tt.wantNeed, len(tt.samples))
			}
			if !strings.Contains(err.Error(), tt.wantReason) {
				t.Errorf("message %q does not contain %q", err, tt.wantReason)
			}
		})
	}
}

func TestThresholdInvalidInput(t *testing.T) {
	good := run(0.9, 0.01, "TTTTF")
	nan := concat(good, []Sample{{Score: math.NaN()}})
	big := concat(good, []Sample{{Score: 1.5}})
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"accuracy empty", func() error { _, err := TargetAccuracy(nil, 0.9, 0.1); return err }, ErrNoSamples},
		{"accuracy NaN score", func() error { _, err := TargetAccuracy(nan, 0.9, 0.1); return err }, ErrInvalidScore},
		{"accuracy score above 1", func() error { _, err := TargetAccuracy(big, 0.9, 0.1); return err }, ErrInvalidScore},
		{"accuracy target 0", func() error { _, err := TargetAccuracy(good, 0, 0.1); return err }, ErrInvalidParameter},
		{"accuracy target 1", func() error { _, err := TargetAccuracy(good, 1, 0.1); return err }, ErrInvalidParameter},
		{"accuracy target NaN", func() error { _, err := TargetAccuracy(good, math.NaN(), 0.1); return err }, ErrInvalidParameter},
		{"accuracy delta 0", func() error { _, err := TargetAccuracy(good, 0.9, 0); return err }, ErrInvalidParameter},
		{"accuracy delta above 1", func() error { _, err := TargetAccuracy(good, 0.9, 1.5); return err }, ErrInvalidParameter},
		{"rate empty", func() error { _, err := TargetCloudRate(nil, 0.2); return err }, ErrNoSamples},
		{"rate NaN score", func() error { _, err := TargetCloudRate(nan, 0.2); return err }, ErrInvalidScore},
		{"rate negative", func() error { _, err := TargetCloudRate(good, -0.1); return err }, ErrInvalidParameter},
		{"rate above 1", func() error { _, err := TargetCloudRate(good, 1.01); return err }, ErrInvalidParameter},
		{"cost empty", func() error { _, err := CostTradeoff(nil, Tradeoff{}); return err }, ErrNoSamples},
		{"cost NaN score", func() error { _, err := CostTradeoff(nan, Tradeoff{}); return err }, ErrInvalidScore},
		{"cost negative lambda", func() error { _, err := CostTradeoff(good, Tradeoff{Lambda: -1}); return err }, ErrInvalidParameter},
		{"cost NaN cloud cost", func() error { _, err := CostTradeoff(good, Tradeoff{CloudCost: math.NaN()}); return err }, ErrInvalidParameter},
		{"cost infinite local cost", func() error { _, err := CostTradeoff(good, Tradeoff{LocalCost: math.Inf(1)}); return err }, ErrInvalidParameter},
		{"cost cloud accuracy above 1", func() error { _, err := CostTradeoff(good, Tradeoff{CloudAccuracy: 1.2}); return err }, ErrInvalidParameter},
		{"cost cloud labels wrong length", func() error {
			_, err := CostTradeoff(good, Tradeoff{CloudCorrect: []bool{true}})
			return err
		}, ErrInvalidParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.fn()
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	var pe *ParamError
	if _, err := TargetAccuracy(good, 1.2, 0.1); !errors.As(err, &pe) || pe.Name != "target" {
		t.Errorf("err = %v, want ParamError naming target", err)
	}
	var se *ScoreError
	if _, err := TargetAccuracy(nan, 0.9, 0.1); !errors.As(err, &se) || se.Index != len(good) {
		t.Errorf("err = %v, want ScoreError at index %d", err, len(good))
	}
}

// TestTargetAccuracyMatchesReference compares TargetAccuracy with a direct
// transcription of the procedure on random data with many ties. The
// reference certifies a threshold when P(Bin(accepted, 1-target) <= errors)
// < delta, which is equivalent to the Clopper–Pearson bound being below
// 1-target but computed independently.
func TestTargetAccuracyMatchesReference(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(7, seed))
		n := 30 + rng.IntN(300)
		samples := make([]Sample, n)
		for i := range samples {
			s := math.Round(rng.Float64()*40) / 40 // ties
			samples[i] = Sample{Score: s, Correct: rng.Float64() < 0.6+0.4*s}
		}
		const target, delta = 0.85, 0.1
		need, _ := MinAccepted(target, delta)

		// Reference: distinct scores, highest first.
		seen := map[float64]bool{}
		var cands []float64
		for _, s := range samples {
			if !seen[s.Score] {
				seen[s.Score] = true
				cands = append(cands, s.Score)
			}
		}
		sortDesc(cands)
		want := math.NaN()
		for _, c := range cands {
			acc, errs := 0, 0
			for _, s := range samples {
				if s.Score >= c {
					acc++
					if !s.Correct {
						errs++
					}
				}
			}
			if acc < need {
				continue
			}
			if !(binomCDF(errs, acc, 1-target) < delta) {
				break
			}
			want = c
		}

		r, err := TargetAccuracy(samples, target, delta)
		switch {
		case math.IsNaN(want) && err == nil:
			t.Errorf("seed %d: got threshold %v, reference certifies nothing", seed, r.Threshold)
		case !math.IsNaN(want) && err != nil:
			t.Errorf("seed %d: got %v, reference threshold %v", seed, err, want)
		case err == nil && r.Threshold != want:
			t.Errorf("seed %d: threshold %v, reference %v", seed, r.Threshold, want)
		}
	}
}

// sortDesc sorts v in decreasing order (insertion sort; test sizes are tiny).
func sortDesc(v []float64) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j] > v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}

func TestTargetCloudRate(t *testing.T) {
	ten := run(0.95, 0.1, "FFTFTTTTTT") // 0.95, 0.85, ..., 0.05
	ties := []Sample{{0.2, false}, {0.2, false}, {0.2, true}, {0.5, true}, {0.5, false}, {0.9, true}}
	ones := concat(same(1, 3, 3), same(0.4, 2, 0))
	tests := []struct {
		name          string
		samples       []Sample
		rate          float64
		wantThr       float64
		wantEscalated int
	}{
		{"rate 0 accepts everything", ten, 0, 0, 0},
		{"rate 0.3 escalates three", ten, 0.3, ten[6].Score, 3},
		{"rate between steps rounds down", ten, 0.35, ten[6].Score, 3},
		{"rate 0.95 escalates nine", ten, 0.95, ten[0].Score, 9},
		{"rate 1 escalates everything", ten, 1, EscalateAll, 10},
		{"tie group too big to escalate", ties, 0.4, 0, 0},
		{"tie group escalated whole", ties, 0.5, 0.5, 3},
		{"second tie group", ties, 0.99, 0.9, 5},
		{"rate 1 escalates scores of 1", ones, 1, EscalateAll, 5},
		{"below the ones", ones, 0.5, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := TargetCloudRate(tt.samples, tt.rate)
			if err != nil {
				t.Fatal(err)
			}
			if r.Threshold != tt.wantThr || r.Samples-r.Accepted != tt.wantEscalated {
				t.Errorf("threshold %v escalating %d, want %v escalating %d",
					r.Threshold, r.Samples-r.Accepted, tt.wantThr, tt.wantEscalated)
			}
			if r.CloudRate > tt.rate {
				t.Errorf("cloud rate %v above target %v", r.CloudRate, tt.rate)
			}
			if r.Method != MethodTargetCloudRate || r.Certificate != nil || r.Tradeoff != nil {
				t.Errorf("unexpected method/extras: %+v", r)
			}
			checkResult(t, tt.samples, r)
		})
	}
}

// TestTargetCloudRateMaximal checks on random data that no other split
// escalates more without exceeding the rate.
func TestTargetCloudRateMaximal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	samples := make([]Sample, 200)
	for i := range samples {
		samples[i] = Sample{Score: math.Round(rng.Float64()*20) / 20, Correct: rng.IntN(2) == 0}
	}
	for _, rate := range []float64{0, 0.01, 0.1, 0.25, 0.5, 0.77, 0.999, 1} {
		r, err := TargetCloudRate(samples, rate)
		if err != nil {
			t.Fatal(err)
		}
		checkResult(t, samples, r)
		for _, s := range samples {
			esc := 0
			for _, o := range samples {
				if o.Score < s.Score {
					esc++
				}
			}
			if share := float64(esc) / float64(len(samples)); share <= rate && share > r.CloudRate {
				t.Errorf("rate %v: threshold %v escalates %v > chosen %v", rate, s.Score, share, r.CloudRate)
			}
		}
	}
}

func TestCostTradeoff(t *testing.T) {
	// Lowest two wrong, top two right.
	four := []Sample{{0.1, false}, {0.2, false}, {0.8, true}, {0.9, true}}
	tests := []struct {
		name          string
		samples       []Sample
		tradeoff      Tradeoff
		wantThr       float64
		wantAccuracy  float64
		wantObjective float64
	}{
		{
			name:     "free perfect cloud escalates the wrong ones only (ties keep the cheaper)",
			samples:  four,
			tradeoff: Tradeoff{Lambda: 0, CloudAccuracy: 1},
			wantThr:  0.8, wantAccuracy: 1, wantObjective: 1,
		},
		{
			name:     "expensive cloud accepts everything",
			samples:  four,
			tradeoff: Tradeoff{Lambda: 10, CloudCost: 1, CloudAccuracy: 1},
			wantThr:  0, wantAccuracy: 0.5, wantObjective: 0.5,
		},
		{
			name:     "cheap cloud: local cost shifts the objective only",
			samples:  four,
			tradeoff: Tradeoff{Lambda: 0.5, LocalCost: 0.2, CloudCost: 0.2, CloudAccuracy: 0.9},
			// Escalating the two wrong: accuracy (2 + 1.8)/4 = 0.95,
			// cost 0.2 + 0.5·0.2 = 0.3, objective 0.95 - 0.15 = 0.8.
			wantThr: 0.8, wantAccuracy: 0.95, wantObjective: 0.8,
		},
		{
			name:     "useless cloud is never worth it",
			samples:  four,
			tradeoff: Tradeoff{Lambda: 0.1, CloudCost: 1, CloudAccuracy: 0},
			wantThr:  0, wantAccuracy: 0.5, wantObjective: 0.5,
		},
		{
			name:    "per-sample cloud labels",
			samples: four,
			// The cloud is wrong on 0.2, so escalating only 0.1 is best:
			// accuracy 3/4, cost 0.25, objective 0.75 - 0.025.
			tradeoff: Tradeoff{Lambda: 0.1, CloudCost: 1, CloudCorrect: []bool{true, false, true, true}},
			wantThr:  0.2, wantAccuracy: 0.75, wantObjective: 0.725,
		},
		{
			name:     "free cloud that beats local everywhere escalates all",
			samples:  []Sample{{0.3, false}, {0.6, false}, {1, false}},
			tradeoff: Tradeoff{Lambda: 1, CloudAccuracy: 1},
			wantThr:  EscalateAll, wantAccuracy: 1, wantObjective: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := CostTradeoff(tt.samples, tt.tradeoff)
			if err != nil {
				t.Fatal(err)
			}
			if r.Threshold != tt.wantThr {
				t.Errorf("threshold %v, want %v", r.Threshold, tt.wantThr)
			}
			if r.Method != MethodCostTradeoff || r.Tradeoff == nil {
				t.Fatalf("method %q, tradeoff %v", r.Method, r.Tradeoff)
			}
			if !approx(r.Tradeoff.Accuracy, tt.wantAccuracy, 1e-12) || !approx(r.Tradeoff.Objective, tt.wantObjective, 1e-12) {
				t.Errorf("outcome %+v, want accuracy %v objective %v", *r.Tradeoff, tt.wantAccuracy, tt.wantObjective)
			}
			checkResult(t, tt.samples, r)
		})
	}
}

// TestCostTradeoffMatchesBruteForce checks on random data that the chosen
// split's objective is the best over every candidate threshold.
func TestCostTradeoffMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 30 {
		n := 1 + rng.IntN(80)
		samples := make([]Sample, n)
		cloud := make([]bool, n)
		for i := range samples {
			s := math.Round(rng.Float64()*10) / 10
			samples[i] = Sample{Score: s, Correct: rng.Float64() < s}
			cloud[i] = rng.Float64() < 0.85
		}
		tr := Tradeoff{Lambda: rng.Float64(), LocalCost: rng.Float64(), CloudCost: rng.Float64(), CloudAccuracy: 0.85}
		if trial%2 == 1 {
			tr.CloudCorrect = cloud
		}
		r, err := CostTradeoff(samples, tr)
		if err != nil {
			t.Fatal(err)
		}
		checkResult(t, samples, r)
		cands := []float64{0, EscalateAll}
		for _, s := range samples {
			cands = append(cands, s.Score)
		}
		for _, c := range cands {
			right, esc := 0.0, 0
			for i, s := range samples {
				switch {
				case s.Score >= c && s.Correct:
					right++
				case s.Score < c:
					esc++
					if tr.CloudCorrect == nil {
						right += tr.CloudAccuracy
					} else if cloud[i] {
						right++
					}
				}
			}
			obj := right/float64(n) - tr.Lambda*(tr.LocalCost+float64(esc)/float64(n)*tr.CloudCost)
			if obj > r.Tradeoff.Objective+1e-9 {
				t.Errorf("trial %d: threshold %v has objective %v > chosen %v", trial, c, obj, r.Tradeoff.Objective)
			}
		}
	}
}

func TestResultJSON(t *testing.T) {
	r, err := TargetCloudRate(run(0.9, 0.1, "TFT"), 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Threshold != EscalateAll || back.Threshold != math.Nextafter(1, 2) {
		t.Errorf("threshold round-tripped to %v, want EscalateAll", back.Threshold)
	}
	if strings.Contains(string(b), "certificate") || strings.Contains(string(b), "tradeoff") {
		t.Errorf("unset sections encoded: %s", b)
	}
}
