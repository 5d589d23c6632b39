package calib

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// ClopperPearsonUpper returns the exact one-sided Clopper–Pearson upper
// confidence bound, at level 1-delta, on a binomial error rate after
// observing k errors in n trials: the largest p with P(Bin(n, p) <= k) >=
// delta, so the true rate exceeds the bound with probability at most delta.
//
// It is the (1-delta) quantile of Beta(k+1, n-k); it is 1 when k == n, and
// also when n == 0 (no data, no information). For k == 0 it equals
// 1 - delta^(1/n).
func ClopperPearsonUpper(k, n int, delta float64) (float64, error) {
	if err := checkOpenUnit("delta", delta); err != nil {
		return 0, err
	}
	if n < 0 || k < 0 || k > n {
		return 0, fmt.Errorf("%w: want 0 <= k <= n, got k = %d, n = %d", ErrInvalidParameter, k, n)
	}
	return cpUpper(k, n, delta), nil
}

// cpUpper is ClopperPearsonUpper without validation.
func cpUpper(k, n int, delta float64) float64 {
	if k >= n {
		return 1
	}
	if k == 0 {
		// Closed form; more accurate than the generic quantile.
		return -math.Expm1(math.Log(delta) / float64(n))
	}
	return distuv.Beta{Alpha: float64(k + 1), Beta: float64(n - k)}.Quantile(1 - delta)
}

// MinAccepted returns the fewest accepted answers with which TargetAccuracy
// can certify accuracy target at level delta. It is reached only when every
// accepted answer is right: the smallest m with 1 - delta^(1/m) < 1 - target.
// For target 0.9 and delta 0.05 it is 29.
func MinAccepted(target, delta float64) (int, error) {
	if err := checkOpenUnit("target", target); err != nil {
		return 0, err
	}
	if err := checkOpenUnit("delta", delta); err != nil {
		return 0, err
	}
	return minAccepted(target, delta), nil
}

// minAccepted is MinAccepted without validation.
func minAccepted(target, delta float64) int {
	alpha := 1 - target
	// 1 - delta^(1/m) < alpha  <=>  m > ln(delta)/ln(target).
	m := int(math.Floor(math.Log(delta)/math.Log(target))) + 1
	if m < 1 {
		m = 1
	}
	// Make the answer agree exactly with cpUpper despite rounding.
	for m > 1 && cpUpper(0, m-1, delta) < alpha {
		m--
	}
	for cpUpper(0, m, delta) >= alpha {
		m++
	}
	return m
}
