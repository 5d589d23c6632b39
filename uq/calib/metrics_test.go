package calib

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// labelled builds samples from parallel scores and labels.
func labelled(scores []float64, right []bool) []Sample {
	out := make([]Sample, len(scores))
	for i := range scores {
		out[i] = Sample{Score: scores[i], Correct: right[i]}
	}
	return out
}

func TestAUROC(t *testing.T) {
	tests := []struct {
		name    string
		samples []Sample
		want    float64
	}{
		{"perfectly separated", labelled([]float64{0.1, 0.2, 0.8, 0.9}, []bool{false, false, true, true}), 1},
		{"perfectly reversed", labelled([]float64{0.1, 0.2, 0.8, 0.9}, []bool{true, true, false, false}), 0},
		{"identical scores", same(0.5, 10, 3), 0.5},
		// Pairs (right, wrong): (0.8,0.5)=1 (0.8,0.2)=1 (0.5,0.5)=½ (0.5,0.2)=1.
		{"tie counts half", labelled([]float64{0.8, 0.5, 0.5, 0.2}, []bool{true, true, false, false}), 3.5 / 4},
		{"raw scores need not be in [0, 1]", labelled([]float64{-3, 7, 12}, []bool{false, true, false}), 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AUROC(tt.samples)
			if err != nil {
				t.Fatal(err)
			}
			if !approx(got, tt.want, 1e-12) {
				t.Errorf("AUROC = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAUROCMatchesPairCount compares the rank formula with counting every
// (right, wrong) pair on random data with many ties.
func TestAUROCMatchesPairCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for trial := range 20 {
		n := 2 + rng.IntN(150)
		samples := make([]Sample, n)
		for i := range samples {
			s := math.Round(rng.Float64()*8) / 8
			samples[i] = Sample{Score: s, Correct: rng.Float64() < s}
		}
		samples[0].Correct, samples[1].Correct = true, false
		wins, pairs := 0.0, 0.0
		for _, p := range samples {
			for _, q := range samples {
				if !p.Correct || q.Correct {
					continue
				}
				pairs++
				switch {
				case p.Score > q.Score:
					wins++
				case p.Score == q.Score:
					wins += 0.5
				}
			}
		}
		got, err := AUROC(samples)
		if err != nil {
			t.Fatal(err)
		}
		if !approx(got, wins/pairs, 1e-12) {
			t.Errorf("trial %d: AUROC %v, pair count %v", trial, got, wins/pairs)
		}
	}
}

func TestAUPRC(t *testing.T) {
	tests := []struct {
		name    string
		samples []Sample
		want    float64
	}{
		{"perfectly separated", labelled([]float64{0.1, 0.2, 0.8, 0.9}, []bool{false, false, true, true}), 1},
		{"alternating", labelled([]float64{0.9, 0.8, 0.7, 0.6}, []bool{true, false, true, false}), 0.5 + 0.5*2.0/3},
		// scikit-learn's documented example: average_precision_score(
		// [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.8333.
		{"scikit-learn example", labelled([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}), 0.5 + 0.5*2.0/3},
		{"identical scores give prevalence", same(0.5, 10, 3), 0.3},
		{"all right", run(0.9, 0.1, "TTT"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AUPRC(tt.samples)
			if err != nil {
				t.Fatal(err)
			}
			if !approx(got, tt.want, 1e-12) {
				t.Errorf("AUPRC = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMetricsInvalidInput(t *testing.T) {
	allRight, allWrong := run(0.9, 0.1, "TTT"), run(0.9, 0.1, "FFF")
	nan := []Sample{{math.NaN(), true}, {0.2, false}}
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"auroc empty", func() error { _, err := AUROC(nil); return err }, ErrNoSamples},
		{"auroc all right", func() error { _, err := AUROC(allRight); return err }, ErrOneClass},
		{"auroc all wrong", func() error { _, err := AUROC(allWrong); return err }, ErrOneClass},
		{"auroc NaN", func() error { _, err := AUROC(nan); return err }, ErrInvalidScore},
		{"auprc all wrong", func() error { _, err := AUPRC(allWrong); return err }, ErrOneClass},
		{"auprc NaN", func() error { _, err := AUPRC(nan); return err }, ErrInvalidScore},
		{"ece zero bins", func() error { _, err := ECE(allRight, 0); return err }, ErrInvalidParameter},
		{"ece empty", func() error { _, err := ECE(nil, 10); return err }, ErrNoSamples},
		{"ece score above 1", func() error { _, err := ECE([]Sample{{1.2, true}}, 10); return err }, ErrInvalidScore},
		{"risk-coverage empty", func() error { _, err := RiskCoverage(nil); return err }, ErrNoSamples},
		{"risk-coverage NaN", func() error { _, err := RiskCoverage(nan); return err }, ErrInvalidScore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.fn(); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestECE(t *testing.T) {
	tests := []struct {
		name    string
		samples []Sample
		bins    int
		wantECE float64
		wantMCE float64
		check   func(t *testing.T, r Reliability)
	}{
		{
			// Bin [0, 0.5): scores 0.2, 0.3, one right: gap |0.5 - 0.25|.
			// Bin [0.5, 1]: scores 0.8, 0.9, both right: gap |1 - 0.85|.
			name:    "two bins",
			samples: labelled([]float64{0.2, 0.3, 0.8, 0.9}, []bool{false, true, true, true}),
			bins:    2,
			wantECE: 0.5*0.25 + 0.5*0.15,
			wantMCE: 0.25,
			check: func(t *testing.T, r Reliability) {
				b := r.Bins[1]
				if b.Lower != 0.5 || b.Upper != 1 || b.Count != 2 || !approx(b.MeanScore, 0.85, 1e-12) || b.Accuracy != 1 {
					t.Errorf("bin 1 = %+v", b)
				}
			},
		},
		{
			name:    "calibrated",
			samples: same(0.7, 10, 7),
			bins:    10,
			wantECE: 0,
			wantMCE: 0,
			check: func(t *testing.T, r Reliability) {
				if r.Bins[7].Count != 10 {
					t.Errorf("0.7 not in bin 7: %+v", r.Bins)
				}
			},
		},
		{
			name:    "score 1 lands in the last bin, empty bins kept",
			samples: []Sample{{1, true}, {0, false}},
			bins:    4,
			wantECE: 0,
			wantMCE: 0,
			check: func(t *testing.T, r Reliability) {
				if len(r.Bins) != 4 || r.Bins[3].Count != 1 || r.Bins[0].Count != 1 || r.Bins[1].Count != 0 {
					t.Errorf("bins %+v", r.Bins)
				}
			},
		},
		{
			name:    "overconfident",
			samples: same(0.95, 20, 10),
			bins:    10,
			wantECE: 0.45,
			wantMCE: 0.45,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ECE(tt.samples, tt.bins)
			if err != nil {
				t.Fatal(err)
			}
			if !approx(r.ECE, tt.wantECE, 1e-12) || !approx(r.MCE, tt.wantMCE, 1e-12) {
				t.Errorf("ECE %v MCE %v, want %v %v", r.ECE, r.MCE, tt.wantECE, tt.wantMCE)
			}
			total := 0
			for _, b := range r.Bins {
				total += b.Count
			}
			if len(r.Bins) != tt.bins || total != len(tt.samples) {
				t.Errorf("%d bins holding %d samples", len(r.Bins), total)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestRiskCoverage(t *testing.T) {
	samples := []Sample{{0.9, true}, {0.9, false}, {0.5, true}, {0.1, false}}
	want := []RiskCoveragePoint{
		{Threshold: 0.9, Accepted: 2, Coverage: 0.5, Risk: 0.5},
		{Threshold: 0.5, Accepted: 3, Coverage: 0.75, Risk: 1.0 / 3},
		{Threshold: 0.1, Accepted: 4, Coverage: 1, Risk: 0.5},
	}
	got, err := RiskCoverage(samples)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("points %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Threshold != w.Threshold || g.Accepted != w.Accepted || !approx(g.Coverage, w.Coverage, 1e-12) || !approx(g.Risk, w.Risk, 1e-12) {
			t.Errorf("point %d = %+v, want %+v", i, g, w)
		}
	}
}
