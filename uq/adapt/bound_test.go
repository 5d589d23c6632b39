package adapt

import (
	"math/rand/v2"
	"testing"
)

// The bound checked after every label: over many simulated streams with a
// known rate, the share of streams in which the bound ever rose above the
// rate stays under alpha. A Wilson bound at the same level, checked the
// same way, does not (the reason for the mixture).
func TestBoundRepeatedChecks(t *testing.T) {
	const runs, n, alpha = 400, 300, 0.1
	for _, p := range []float64{0.7, 0.9, 0.97} {
		rng := rand.New(rand.NewPCG(1, uint64(p*1000)))
		var mixFail, wilsonFail int
		for range runs {
			k := 0.0
			mixBad, wilsonBad := false, false
			for i := 1; i <= n; i++ {
				if rng.Float64() < p {
					k++
				}
				if !mixBad && LowerBound(k, float64(i), alpha) > p {
					mixBad = true
				}
				if !wilsonBad && i >= 5 && wilsonLower(k, float64(i), alpha) > p {
					wilsonBad = true
				}
			}
			if mixBad {
				mixFail++
			}
			if wilsonBad {
				wilsonFail++
			}
		}
		mix, wil := float64(mixFail)/runs, float64(wilsonFail)/runs
		t.Logf("p=%.2f: bound ever above p in %.3f of streams (mixture), %.3f (Wilson); alpha %.2f", p, mix, wil, alpha)
		// Binomial slack: 3 standard errors of the simulation.
		if mix > alpha+3*0.015 {
			t.Errorf("p=%.2f: the mixture bound was wrong in %.3f of the streams, over alpha %.2f", p, mix, alpha)
		}
		if p == 0.9 && wil <= alpha {
			t.Errorf("p=%.2f: Wilson checked after every label was wrong in only %.3f (the test no longer shows the need)", p, wil)
		}
	}
}

func TestLowerBound(t *testing.T) {
	for _, tt := range []struct {
		k, n, alpha float64
		lo, hi      float64
	}{
		{0, 0, 0.1, 0, 0},
		{0, 10, 0.1, 0, 0},
		{100, 100, 0.1, 0.95, 1},
		{900, 1000, 0.1, 0.86, 0.9},
		{45, 50, 0.1, 0.75, 0.9},
	} {
		got := LowerBound(tt.k, tt.n, tt.alpha)
		if got < tt.lo || got > tt.hi {
			t.Errorf("LowerBound(%v, %v, %v) = %.4f, want in [%v, %v]", tt.k, tt.n, tt.alpha, got, tt.lo, tt.hi)
		}
	}
	// Monotone: more evidence at the same rate, a higher bound.
	if a, b := LowerBound(90, 100, 0.1), LowerBound(900, 1000, 0.1); a >= b {
		t.Errorf("bound at n=100 %.4f >= at n=1000 %.4f", a, b)
	}
}
