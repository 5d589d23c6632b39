package calib

import (
	"errors"
	"math"
	"testing"
)

// approx reports whether a and b differ by at most tol.
func approx(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// binomCDF is P(Bin(n, p) <= k) summed from the definition, independent of
// the package's Beta quantiles.
func binomCDF(k, n int, p float64) float64 {
	sum := 0.0
	for i := 0; i <= k; i++ {
		lc, _ := math.Lgamma(float64(n + 1))
		li, _ := math.Lgamma(float64(i + 1))
		lni, _ := math.Lgamma(float64(n - i + 1))
		sum += math.Exp(lc - li - lni + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
	}
	return sum
}

func TestClopperPearsonUpper(t *testing.T) {
	tests := []struct {
		name     string
		k, n     int
		delta    float64
		want     float64 // known value; NaN to check only the definition
		wantTol  float64
		checkCDF bool // check P(Bin(n, bound) <= k) == delta
	}{
		{name: "zero errors closed form", k: 0, n: 10, delta: 0.05, want: 1 - math.Pow(0.05, 0.1), wantTol: 1e-12, checkCDF: true},
		{name: "zero errors rounded", k: 0, n: 10, delta: 0.05, want: 0.2589, wantTol: 5e-5},
		{name: "one of ten, 95% one-sided table value", k: 1, n: 10, delta: 0.05, want: 0.3942, wantTol: 5e-5, checkCDF: true},
		{name: "three of twenty", k: 3, n: 20, delta: 0.05, want: math.NaN(), checkCDF: true},
		{name: "ten of five hundred", k: 10, n: 500, delta: 0.1, want: math.NaN(), checkCDF: true},
		{name: "half", k: 50, n: 100, delta: 0.01, want: math.NaN(), checkCDF: true},
		{name: "all errors", k: 7, n: 7, delta: 0.05, want: 1},
		{name: "no data", k: 0, n: 0, delta: 0.05, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ClopperPearsonUpper(tt.k, tt.n, tt.delta)
			if err != nil {
				t.Fatal(err)
			}
			if !math.IsNaN(tt.want) && !approx(got, tt.want, tt.wantTol) {
				t.Errorf("bound = %.6f, want %.6f", got, tt.want)
			}
			if got < float64(tt.k)/math.Max(1, float64(tt.n)) || got > 1 {
				t.Errorf("bound %v outside [k/n, 1]", got)
			}
			if tt.checkCDF {
				if cdf := binomCDF(tt.k, tt.n, got); !approx(cdf, tt.delta, 1e-9) {
					t.Errorf("P(Bin(%d, %v) <= %d) = %v, want delta %v", tt.n, got, tt.k, cdf, tt.delta)
				}
			}
		})
	}
}

func TestClopperPearsonMonotone(t *testing.T) {
	prev := 1.0
	for n := 1; n <= 200; n++ {
		b, _ := ClopperPearsonUpper(1, max(n, 1), 0.05)
		if n > 1 && b >= prev {
			t.Fatalf("bound not decreasing in n at n = %d: %v >= %v", n, b, prev)
		}
		prev = b
	}
	prev = 0
	for k := 0; k <= 50; k++ {
		b, _ := ClopperPearsonUpper(k, 50, 0.05)
		if b <= prev {
			t.Fatalf("bound not increasing in k at k = %d", k)
		}
		prev = b
	}
}

func TestClopperPearsonInvalid(t *testing.T) {
	tests := []struct {
		name  string
		k, n  int
		delta float64
	}{
		{"delta zero", 0, 10, 0},
		{"delta one", 0, 10, 1},
		{"delta NaN", 0, 10, math.NaN()},
		{"k above n", 11, 10, 0.05},
		{"negative k", -1, 10, 0.05},
		{"negative n", 0, -1, 0.05},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ClopperPearsonUpper(tt.k, tt.n, tt.delta); !errors.Is(err, ErrInvalidParameter) {
				t.Errorf("err = %v, want ErrInvalidParameter", err)
			}
		})
	}
}

func TestMinAccepted(t *testing.T) {
	tests := []struct {
		target, delta float64
		want          int
	}{
		{0.9, 0.05, 29},
		{0.9, 0.1, 22},
		{0.95, 0.05, 59},
		{0.99, 0.05, 299},
		{0.5, 0.5, 2}, // 1 - 0.5^(1/1) = 0.5 is not below 0.5
	}
	for _, tt := range tests {
		got, err := MinAccepted(tt.target, tt.delta)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("MinAccepted(%v, %v) = %d, want %d", tt.target, tt.delta, got, tt.want)
		}
		// By definition: m certifies with zero errors, m-1 does not.
		alpha := 1 - tt.target
		if b, _ := ClopperPearsonUpper(0, got, tt.delta); !(b < alpha) {
			t.Errorf("bound at m = %d is %v, want < %v", got, b, alpha)
		}
		if b, _ := ClopperPearsonUpper(0, got-1, tt.delta); b < alpha {
			t.Errorf("bound at m-1 = %d is %v, want >= %v", got-1, b, alpha)
		}
	}
	if _, err := MinAccepted(1, 0.05); !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("target 1: err = %v, want ErrInvalidParameter", err)
	}
	if _, err := MinAccepted(0.9, 0); !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("delta 0: err = %v, want ErrInvalidParameter", err)
	}
}
