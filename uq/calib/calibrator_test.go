package calib

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestPAV(t *testing.T) {
	tests := []struct {
		name string
		y, w []float64
		want []float64 // fitted value per input point
	}{
		{"already monotone", []float64{1, 2, 3}, nil, []float64{1, 2, 3}},
		{"textbook", []float64{1, 3, 2, 4, 3, 5}, nil, []float64{1, 2.5, 2.5, 3.5, 3.5, 5}},
		{"decreasing pools everything", []float64{4, 3, 2, 1}, nil, []float64{2.5, 2.5, 2.5, 2.5}},
		{"cascading merge", []float64{1, 5, 6, 2, 1}, nil, []float64{1, 3.5, 3.5, 3.5, 3.5}},
		{"weighted", []float64{3, 1}, []float64{1, 3}, []float64{1.5, 1.5}},
		{"equal values stay apart", []float64{2, 2, 2}, nil, []float64{2, 2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.w
			if w == nil {
				w = make([]float64, len(tt.y))
				for i := range w {
					w[i] = 1
				}
			}
			var got []float64
			for _, b := range pav(tt.y, w) {
				for i := b.start; i < b.end; i++ {
					got = append(got, b.value)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("fit %v, want %v", got, tt.want)
			}
			for i := range got {
				if !approx(got[i], tt.want[i], 1e-12) {
					t.Fatalf("fit %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestFitIsotonic(t *testing.T) {
	tests := []struct {
		name    string
		samples []Sample
		wantX   []float64
		wantY   []float64
		predict map[float64]float64
	}{
		{
			name:    "pools the violating middle pair",
			samples: []Sample{{0.4, true}, {0.2, true}, {0.1, false}, {0.3, false}},
			wantX:   []float64{0.1, 0.25, 0.4},
			wantY:   []float64{0, 0.5, 1},
			predict: map[float64]float64{
				-1: 0, 0.05: 0, 0.1: 0, 0.175: 0.25, 0.25: 0.5, 0.325: 0.75, 0.4: 1, 2: 1,
				math.NaN(): 0,
			},
		},
		{
			name:    "ties pooled first",
			samples: []Sample{{0.5, true}, {0.5, false}, {0.5, false}, {0.9, true}},
			wantX:   []float64{0.5, 0.9},
			wantY:   []float64{1.0 / 3, 1},
			predict: map[float64]float64{0.7: 2.0 / 3},
		},
		{
			name:    "all right is constant 1",
			samples: run(0.9, 0.1, "TTTT"), // equal blocks kept at the ends only
			wantX:   []float64{0.6, 0.9},
			wantY:   []float64{1, 1},
			predict: map[float64]float64{0: 1, 1: 1},
		},
		{
			name:    "reversed scores pool to the mean",
			samples: run(0.9, 0.1, "FFTT"), // high scores wrong
			wantX:   []float64{0.75},
			wantY:   []float64{0.5},
			predict: map[float64]float64{0.1: 0.5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := FitIsotonic(tt.samples)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Validate(); err != nil {
				t.Fatalf("fitted map invalid: %v", err)
			}
			if !approxSlice(m.X, tt.wantX) || !approxSlice(m.Y, tt.wantY) {
				t.Errorf("blocks x %v y %v, want x %v y %v", m.X, m.Y, tt.wantX, tt.wantY)
			}
			for s, want := range tt.predict {
				if got := m.Predict(s); !approx(got, want, 1e-12) {
					t.Errorf("Predict(%v) = %v, want %v", s, got, want)
				}
			}
		})
	}
}

// approxSlice reports whether a and b are equal within 1e-12.
func approxSlice(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !approx(a[i], b[i], 1e-12) {
			return false
		}
	}
	return true
}

func TestIsotonicMonotoneOnRandomData(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	samples := make([]Sample, 2000)
	for i := range samples {
		s := math.Round(rng.Float64()*100) / 100
		samples[i] = Sample{Score: s, Correct: rng.Float64() < s*s}
	}
	m, err := FitIsotonic(samples)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	prev := -1.0
	for s := -0.1; s <= 1.1; s += 0.001 {
		p := m.Predict(s)
		if p < prev || p < 0 || p > 1 {
			t.Fatalf("Predict(%v) = %v after %v: not monotone in [0, 1]", s, p, prev)
		}
		prev = p
	}
	// The fit tracks P(right | s) = s².
	for _, s := range []float64{0.3, 0.5, 0.8} {
		if p := m.Predict(s); !approx(p, s*s, 0.12) {
			t.Errorf("Predict(%v) = %v, want about %v", s, p, s*s)
		}
	}
}

func TestFitPlattRecoversParameters(t *testing.T) {
	const a, b = 6.0, -3.0
	rng := rand.New(rand.NewPCG(99, 1))
	samples := make([]Sample, 20000)
	for i := range samples {
		s := rng.Float64()
		samples[i] = Sample{Score: s, Correct: rng.Float64() < sigmoid(a*s+b)}
	}
	p, err := FitPlatt(samples)
	if err != nil {
		t.Fatal(err)
	}
	// Standard errors at this size are about 0.08 for A and 0.05 for B.
	if !approx(p.A, a, 0.4) || !approx(p.B, b, 0.25) {
		t.Errorf("fit A = %v, B = %v, want about %v, %v", p.A, p.B, a, b)
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
}

func TestFitPlattEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		samples []Sample
		check   func(t *testing.T, p Platt)
	}{
		{
			name:    "separable stays finite and ordered",
			samples: concat(run(0.4, 0.01, "FFFFFFFFFF"), run(0.9, 0.01, "TTTTTTTTTT")),
			check: func(t *testing.T, p Platt) {
				if !(p.A > 0) || p.Predict(0.9) <= 0.5 || p.Predict(0.3) >= 0.5 {
					t.Errorf("fit %+v does not separate", p)
				}
				// Smoothed targets cap confidence near (N+1)/(N+2).
				if p.Predict(1) > 0.999 {
					t.Errorf("Predict(1) = %v, overconfident for 10 samples", p.Predict(1))
				}
			},
		},
		{
			name:    "one class gives the smoothed prior",
			samples: run(0.9, 0.05, "TTTTTTTTTT"),
			check: func(t *testing.T, p Platt) {
				if !approx(p.Predict(0.5), 11.0/12, 1e-6) || !approx(p.A, 0, 1e-6) {
					t.Errorf("fit %+v, want A 0 and Predict 11/12", p)
				}
			},
		},
		{
			name:    "constant scores",
			samples: concat(same(0.5, 10, 5)),
			check: func(t *testing.T, p Platt) {
				if !approx(p.Predict(0.5), 0.5, 1e-6) {
					t.Errorf("Predict(0.5) = %v, want 0.5", p.Predict(0.5))
				}
			},
		},
		{
			name:    "scores outside [0, 1] are fine",
			samples: []Sample{{-40, false}, {-10, true}, {3, false}, {25, true}, {60, true}},
			check: func(t *testing.T, p Platt) {
				if err := p.Validate(); err != nil || !(p.A > 0) {
					t.Errorf("fit %+v: %v", p, err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := FitPlatt(tt.samples)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
		})
	}
}

func TestCalibratorOutputsInUnitInterval(t *testing.T) {
	cals := map[string]Calibrator{
		"platt":          Platt{A: 8, B: -4},
		"platt extreme":  Platt{A: 1e308, B: -1e308},
		"platt infinite": Platt{A: math.Inf(1), B: 0},
		"isotonic":       Isotonic{X: []float64{0.2, 0.8}, Y: []float64{0.1, 0.9}},
		"isotonic empty": Isotonic{},
		"isotonic bad":   Isotonic{X: []float64{0.8, 0.2, 0.2}, Y: []float64{2, -1}},
	}
	inputs := []float64{math.NaN(), math.Inf(-1), -1e300, -1, 0, 0.2, 0.5, 0.8, 1, 1e300, math.Inf(1)}
	for name, c := range cals {
		for _, s := range inputs {
			if p := c.Predict(s); !(p >= 0 && p <= 1) {
				t.Errorf("%s: Predict(%v) = %v, want in [0, 1]", name, s, p)
			}
		}
	}
	if p := (Platt{A: 8, B: -4}).Predict(math.NaN()); p != 0 {
		t.Errorf("Predict(NaN) = %v, want 0", p)
	}
}

func TestCalibratorJSON(t *testing.T) {
	samples := make([]Sample, 300)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range samples {
		s := rng.Float64()
		samples[i] = Sample{Score: s, Correct: rng.Float64() < s}
	}
	iso, err := FitIsotonic(samples)
	if err != nil {
		t.Fatal(err)
	}
	platt, err := FitPlatt(samples)
	if err != nil {
		t.Fatal(err)
	}
	// A calibration file stores both; decoding must reproduce predictions.
	type file struct {
		Isotonic Isotonic `json:"isotonic"`
		Platt    Platt    `json:"platt"`
	}
	b, err := json.Marshal(file{iso, platt})
	if err != nil {
		t.Fatal(err)
	}
	var back file
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, s := range []float64{0, 0.13, 0.5, 0.77, 1} {
		if back.Isotonic.Predict(s) != iso.Predict(s) || back.Platt.Predict(s) != platt.Predict(s) {
			t.Errorf("predictions at %v changed after JSON round trip", s)
		}
	}
}

func TestCalibratorValidate(t *testing.T) {
	tests := []struct {
		name string
		v    interface{ Validate() error }
		ok   bool
	}{
		{"isotonic ok", Isotonic{X: []float64{0.1, 0.5}, Y: []float64{0.2, 0.2}}, true},
		{"isotonic empty", Isotonic{}, false},
		{"isotonic length mismatch", Isotonic{X: []float64{0.1, 0.5}, Y: []float64{0.2}}, false},
		{"isotonic x not increasing", Isotonic{X: []float64{0.5, 0.5}, Y: []float64{0.2, 0.3}}, false},
		{"isotonic x NaN", Isotonic{X: []float64{math.NaN()}, Y: []float64{0.2}}, false},
		{"isotonic y decreasing", Isotonic{X: []float64{0.1, 0.5}, Y: []float64{0.3, 0.2}}, false},
		{"isotonic y above 1", Isotonic{X: []float64{0.1}, Y: []float64{1.5}}, false},
		{"platt ok", Platt{A: 3, B: -1}, true},
		{"platt NaN", Platt{A: math.NaN()}, false},
		{"platt infinite", Platt{B: math.Inf(-1)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidParameter) {
				t.Errorf("err = %v, want ErrInvalidParameter", err)
			}
		})
	}
}

func TestFitInvalidInput(t *testing.T) {
	bad := []Sample{{0.5, true}, {math.Inf(1), false}}
	if _, err := FitIsotonic(nil); !errors.Is(err, ErrNoSamples) {
		t.Errorf("isotonic empty: %v", err)
	}
	if _, err := FitPlatt(nil); !errors.Is(err, ErrNoSamples) {
		t.Errorf("platt empty: %v", err)
	}
	if _, err := FitIsotonic(bad); !errors.Is(err, ErrInvalidScore) {
		t.Errorf("isotonic inf: %v", err)
	}
	if _, err := FitPlatt(bad); !errors.Is(err, ErrInvalidScore) {
		t.Errorf("platt inf: %v", err)
	}
}

// FuzzIsotonicPredict feeds decoded calibration files to Predict, which
// must never panic and always answer in [0, 1].
func FuzzIsotonicPredict(f *testing.F) {
	f.Add([]byte(`{"x":[0.1,0.5,0.9],"y":[0,0.5,1]}`), 0.3)
	f.Add([]byte(`{"x":[0.9,0.1],"y":[1]}`), 0.5)
	f.Add([]byte(`{"x":[],"y":[0.2]}`), 0.0)
	f.Fuzz(func(t *testing.T, data []byte, score float64) {
		var m Isotonic
		if json.Unmarshal(data, &m) != nil {
			return
		}
		if p := m.Predict(score); !(p >= 0 && p <= 1) {
			t.Fatalf("Predict(%v) = %v for %s", score, p, data)
		}
	})
}
