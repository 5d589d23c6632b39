package adapt

import "math"

// The bound on accepted accuracy: a confidence sequence for a Bernoulli
// rate, from Robbins' beta-binomial mixture martingale.
//
// For labels Z_1..Z_n that are Bernoulli(p), the mixture over a Beta(a, b)
// prior of the likelihood ratios against p,
//
//	M_n(p) = B(a+k, b+n-k) / B(a, b) / (p^k (1-p)^(n-k)),   k = ΣZ_i,
//
// is a nonnegative martingale with M_0 = 1 under p. By Ville's inequality
// P(∃n: M_n(p) ≥ 1/α) ≤ α: the set {p : M_n(p) < 1/α} holds p at every n
// at once with probability 1-α. Checking after every label costs nothing,
// where a fixed-n bound (Clopper-Pearson, Wilson) checked after every label
// is wrong far more often than its α (TestBoundRepeatedChecks shows both).

// prior is the mixture's Beta prior, centred on a 90% accuracy: any prior
// gives a valid sequence; one near the rates it will see gives the tightest.
const priorA, priorB = 9.0, 1.0

func lbeta(a, b float64) float64 {
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab
}

// logMixture is log M_n(p) for k successes in n trials (k and n may be
// fractional: weighted counts).
func logMixture(k, n, p float64) float64 {
	return lbeta(priorA+k, priorB+n-k) - lbeta(priorA, priorB) - k*math.Log(p) - (n-k)*math.Log1p(-p)
}

// LowerBound is the lower end of the beta-binomial mixture confidence
// sequence at level 1-alpha for k successes in n trials: the smallest p not
// rejected. It is 0 with no trials.
func LowerBound(k, n, alpha float64) float64 {
	if n <= 0 || alpha <= 0 {
		return 0
	}
	k = math.Max(0, math.Min(k, n))
	hat := k / n
	crit := math.Log(1 / alpha)
	if hat == 0 || logMixture(k, n, hat) >= crit {
		return 0
	}
	// log M is decreasing on (0, hat]: bisect for the crossing.
	lo, hi := 0.0, hat
	for range 60 {
		mid := (lo + hi) / 2
		if mid <= 0 {
			break
		}
		if logMixture(k, n, mid) >= crit {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// UpperBound is the upper end of the same confidence sequence: the largest
// p not rejected (1 with no trials).
func UpperBound(k, n, alpha float64) float64 {
	if n <= 0 || alpha <= 0 {
		return 1
	}
	k = math.Max(0, math.Min(k, n))
	hat := k / n
	crit := math.Log(1 / alpha)
	if hat == 1 || logMixture(k, n, hat) >= crit {
		return 1
	}
	lo, hi := hat, 1.0
	for range 60 {
		mid := (lo + hi) / 2
		if mid >= 1 {
			break
		}
		if logMixture(k, n, mid) >= crit {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// wilsonLower is the fixed-n Wilson score lower bound at one-sided level
// 1-alpha (for the test that shows why it is not used).
func wilsonLower(k, n, alpha float64) float64 {
	if n <= 0 {
		return 0
	}
	z := math.Sqrt2 * math.Erfinv(1-2*alpha)
	p := k / n
	d := 1 + z*z/n
	c := p + z*z/(2*n)
	r := z * math.Sqrt(p*(1-p)/n+z*z/(4*n*n))
	return (c - r) / d
}
