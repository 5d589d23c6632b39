package calib

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// fourCascade: local wrong at 0.1 (cloud right), right at 0.4, wrong at
// 0.6 (cloud wrong too), right at 0.9. Local accuracy 0.5, cloud 0.75.
func fourCascade() []CascadeSample {
	return []CascadeSample{
		{Score: 0.6, LocalCorrect: false, CloudCorrect: false},
		{Score: 0.1, LocalCorrect: false, CloudCorrect: true},
		{Score: 0.9, LocalCorrect: true, CloudCorrect: true},
		{Score: 0.4, LocalCorrect: true, CloudCorrect: true},
	}
}

func TestCallRateCurve(t *testing.T) {
	tests := []struct {
		name     string
		samples  []CascadeSample
		want     []CascadePoint
		wantArea float64
	}{
		{
			name:    "four samples",
			samples: fourCascade(),
			want: []CascadePoint{
				{Threshold: 0, CallRate: 0, Accuracy: 0.5},
				{Threshold: 0.4, CallRate: 0.25, Accuracy: 0.75},
				{Threshold: 0.6, CallRate: 0.5, Accuracy: 0.75},
				{Threshold: 0.9, CallRate: 0.75, Accuracy: 0.75},
				{Threshold: EscalateAll, CallRate: 1, Accuracy: 0.75},
			},
			// 0.25·(0.5+0.75)/2 + 0.75·0.75
			wantArea: 0.15625 + 0.5625,
		},
		{
			name:    "one tie group has two points",
			samples: []CascadeSample{{0.5, true, false}, {0.5, false, true}, {0.5, false, true}},
			want: []CascadePoint{
				{Threshold: 0, CallRate: 0, Accuracy: 1.0 / 3},
				{Threshold: EscalateAll, CallRate: 1, Accuracy: 2.0 / 3},
			},
			wantArea: 0.5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := CallRateCurve(tt.samples)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Points) != len(tt.want) {
				t.Fatalf("points %+v, want %+v", c.Points, tt.want)
			}
			for i, w := range tt.want {
				g := c.Points[i]
				if g.Threshold != w.Threshold || !approx(g.CallRate, w.CallRate, 1e-12) || !approx(g.Accuracy, w.Accuracy, 1e-12) {
					t.Errorf("point %d = %+v, want %+v", i, g, w)
				}
			}
			if !approx(c.Area, tt.wantArea, 1e-12) {
				t.Errorf("area %v, want %v", c.Area, tt.wantArea)
			}
		})
	}
}

func TestMinCallRate(t *testing.T) {
	c, err := CallRateCurve(fourCascade())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		fraction float64
		wantRate float64
	}{
		{0.5, 0},      // 0.5 >= 0.375
		{0.95, 0.25},  // need 0.7125
		{1, 0.25},     // need 0.75, reached at 0.25
		{0.666, 0.0},  // need 0.4995
		{0.667, 0.25}, // need 0.50025
	}
	for _, tt := range tests {
		p, err := c.MinCallRate(tt.fraction)
		if err != nil {
			t.Fatal(err)
		}
		if p.CallRate != tt.wantRate {
			t.Errorf("MinCallRate(%v) = %+v, want call rate %v", tt.fraction, p, tt.wantRate)
		}
	}
	// Rounding: 0.95 of 80/100 is reached by exactly 76/100.
	var s []CascadeSample
	for i := range 100 {
		s = append(s, CascadeSample{Score: float64(i) / 100, LocalCorrect: i >= 24, CloudCorrect: i >= 20})
	}
	c2, _ := CallRateCurve(s)
	if p, _ := c2.MinCallRate(0.95); p.CallRate != 0 || p.Accuracy != 0.76 {
		t.Errorf("MinCallRate(0.95) = %+v, want call rate 0 at accuracy 0.76", p)
	}
	for _, f := range []float64{0, -1, 1.1, math.NaN()} {
		if _, err := c.MinCallRate(f); !errors.Is(err, ErrInvalidParameter) {
			t.Errorf("fraction %v: err = %v, want ErrInvalidParameter", f, err)
		}
	}
	if _, err := (CascadeCurve{}).MinCallRate(0.9); !errors.Is(err, ErrNoSamples) {
		t.Errorf("empty curve: err = %v, want ErrNoSamples", err)
	}
}

func TestOracleAndRandom(t *testing.T) {
	acc, rate, err := OracleAccuracy(fourCascade())
	if err != nil {
		t.Fatal(err)
	}
	if acc != 0.75 || rate != 0.25 {
		t.Errorf("oracle accuracy %v at call rate %v, want 0.75 at 0.25", acc, rate)
	}
	tests := []struct {
		rate, want float64
	}{
		{0, 0.5}, {0.5, 0.625}, {1, 0.75},
	}
	for _, tt := range tests {
		got, err := RandomRoutingAccuracy(fourCascade(), tt.rate)
		if err != nil {
			t.Fatal(err)
		}
		if !approx(got, tt.want, 1e-12) {
			t.Errorf("random at %v = %v, want %v", tt.rate, got, tt.want)
		}
	}
}

// TestCascadeInvariants checks on random data that the curve runs from
// always-local to always-cloud with increasing call rate, that no routing
// beats the oracle, and that a useful score beats random routing.
func TestCascadeInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	samples := make([]CascadeSample, 1000)
	for i := range samples {
		s := math.Round(rng.Float64()*50) / 50
		samples[i] = CascadeSample{Score: s, LocalCorrect: rng.Float64() < s, CloudCorrect: rng.Float64() < 0.9}
	}
	c, err := CallRateCurve(samples)
	if err != nil {
		t.Fatal(err)
	}
	oracle, _, _ := OracleAccuracy(samples)
	first, last := c.Points[0], c.Points[len(c.Points)-1]
	if first.CallRate != 0 || last.CallRate != 1 || first.Accuracy != c.LocalAccuracy || last.Accuracy != c.CloudAccuracy {
		t.Errorf("curve ends %+v .. %+v", first, last)
	}
	for i, p := range c.Points {
		if i > 0 && !(p.CallRate > c.Points[i-1].CallRate) {
			t.Errorf("call rate not increasing at %d", i)
		}
		if p.Accuracy > oracle {
			t.Errorf("point %+v beats the oracle %v", p, oracle)
		}
	}
	random := (c.LocalAccuracy + c.CloudAccuracy) / 2
	if !(c.Area > random) || c.Area > 1 {
		t.Errorf("area %v, random %v", c.Area, random)
	}
}

func TestCascadeInvalidInput(t *testing.T) {
	nan := []CascadeSample{{Score: math.NaN()}}
	if _, err := CallRateCurve(nil); !errors.Is(err, ErrNoSamples) {
		t.Errorf("curve empty: %v", err)
	}
	if _, err := CallRateCurve(nan); !errors.Is(err, ErrInvalidScore) {
		t.Errorf("curve NaN: %v", err)
	}
	if _, _, err := OracleAccuracy(nil); !errors.Is(err, ErrNoSamples) {
		t.Errorf("oracle empty: %v", err)
	}
	if _, err := RandomRoutingAccuracy(fourCascade(), 1.5); !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("random rate 1.5: %v", err)
	}
	if _, err := RandomRoutingAccuracy(nan, 0.5); !errors.Is(err, ErrInvalidScore) {
		t.Errorf("random NaN: %v", err)
	}
}
