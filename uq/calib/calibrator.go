package calib

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
)

// Calibrator maps a raw confidence score to an estimated probability that
// the local answer is right.
type Calibrator interface {
	// Predict returns the calibrated probability, always in [0, 1]. A NaN
	// score maps to 0, so a broken score escalates.
	Predict(score float64) float64
}

var (
	_ Calibrator = Isotonic{}
	_ Calibrator = Platt{}
)

// Isotonic is a monotone non-decreasing step map fitted by
// pool-adjacent-violators. Each block of pooled samples is stored as its
// centre X (the mean score of the block) and value Y (the share right in
// the block). Predict interpolates linearly between block centres and
// clamps beyond the first and last centre.
type Isotonic struct {
	// X holds the block centres, strictly increasing.
	X []float64 `json:"x"`
	// Y holds the block values, non-decreasing, in [0, 1].
	Y []float64 `json:"y"`
}

// FitIsotonic fits an isotonic map of correctness on score. Tied scores are
// pooled first. Scores must be finite.
func FitIsotonic(samples []Sample) (Isotonic, error) {
	if err := checkSamples(samples, false); err != nil {
		return Isotonic{}, err
	}
	sorted := slices.Clone(samples)
	slices.SortFunc(sorted, func(a, b Sample) int { return cmp.Compare(a.Score, b.Score) })

	// Pool ties: one point per distinct score, weighted by its count.
	var xs, ys, ws []float64
	for _, s := range sorted {
		y := 0.0
		if s.Correct {
			y = 1
		}
		if k := len(xs) - 1; k >= 0 && xs[k] == s.Score {
			ys[k] += y
			ws[k]++
			continue
		}
		xs, ys, ws = append(xs, s.Score), append(ys, y), append(ws, 1)
	}
	for i := range ys {
		ys[i] /= ws[i]
	}

	blocks := pav(ys, ws)
	var m Isotonic
	for j, b := range blocks {
		// Interior blocks of a run of equal values change no prediction:
		// drop them to keep calibration files small.
		if j > 0 && j < len(blocks)-1 && blocks[j-1].value == b.value && b.value == blocks[j+1].value {
			continue
		}
		sx, sw := 0.0, 0.0
		for i := b.start; i < b.end; i++ {
			sx += xs[i] * ws[i]
			sw += ws[i]
		}
		m.X = append(m.X, sx/sw)
		m.Y = append(m.Y, clamp01(b.value))
	}
	return m, nil
}

// block is a pooled run [start, end) of PAV input points with its
// weighted mean value.
type block struct {
	start, end int
	value      float64
	weight     float64
}

// pav runs weighted pool-adjacent-violators on y (weights w, all > 0) and
// returns the blocks of the non-decreasing least-squares fit.
func pav(y, w []float64) []block {
	var blocks []block
	for i := range y {
		blocks = append(blocks, block{start: i, end: i + 1, value: y[i], weight: w[i]})
		// Merge backwards while the last two blocks violate monotonicity.
		for len(blocks) > 1 {
			a, b := blocks[len(blocks)-2], blocks[len(blocks)-1]
			if a.value <= b.value {
				break
			}
			wt := a.weight + b.weight
			blocks = blocks[:len(blocks)-2]
			blocks = append(blocks, block{
				start:  a.start,
				end:    b.end,
				value:  (a.value*a.weight + b.value*b.weight) / wt,
				weight: wt,
			})
		}
	}
	return blocks
}

// Predict implements Calibrator. An Isotonic with no blocks predicts 0.
func (m Isotonic) Predict(score float64) float64 {
	n := min(len(m.X), len(m.Y))
	if n == 0 || math.IsNaN(score) {
		return 0
	}
	if score <= m.X[0] {
		return clamp01(m.Y[0])
	}
	if score >= m.X[n-1] {
		return clamp01(m.Y[n-1])
	}
	// m.X[i-1] < score < m.X[i]
	i := sort.SearchFloat64s(m.X[:n], score)
	if m.X[i] == score {
		return clamp01(m.Y[i])
	}
	x0, x1, y0, y1 := m.X[i-1], m.X[i], m.Y[i-1], m.Y[i]
	return clamp01(y0 + (y1-y0)*(score-x0)/(x1-x0))
}

// Validate checks a decoded Isotonic: equal non-zero lengths, finite
// strictly increasing X, non-decreasing Y in [0, 1].
func (m Isotonic) Validate() error {
	if len(m.X) == 0 || len(m.X) != len(m.Y) {
		return fmt.Errorf("%w: isotonic has %d centres and %d values", ErrInvalidParameter, len(m.X), len(m.Y))
	}
	for i := range m.X {
		if !isFinite(m.X[i]) || (i > 0 && !(m.X[i] > m.X[i-1])) {
			return fmt.Errorf("%w: isotonic centre %d = %v is not finite and increasing", ErrInvalidParameter, i, m.X[i])
		}
		if !(m.Y[i] >= 0 && m.Y[i] <= 1) || (i > 0 && m.Y[i] < m.Y[i-1]) {
			return fmt.Errorf("%w: isotonic value %d = %v is not in [0, 1] and non-decreasing", ErrInvalidParameter, i, m.Y[i])
		}
	}
	return nil
}

// Platt is a logistic map fitted by Platt scaling:
//
//	Predict(s) = 1 / (1 + exp(-(A·s + B)))
//
// so A > 0 when higher scores mean more likely right. (Platt's paper uses
// the opposite sign for A and B.)
type Platt struct {
	// A is the slope on the score.
	A float64 `json:"a"`
	// B is the intercept.
	B float64 `json:"b"`
}

// FitPlatt fits a Platt map by Newton's method with backtracking line
// search (Lin, Lin and Weng, 2007) on Platt's smoothed targets: right
// answers count as (N₊+1)/(N₊+2) and wrong ones as 1/(N₋+2), which keeps
// the fit finite even when the classes are separable or only one is
// present. Scores must be finite.
func FitPlatt(samples []Sample) (Platt, error) {
	if err := checkSamples(samples, false); err != nil {
		return Platt{}, err
	}
	pos := 0
	for _, s := range samples {
		if s.Correct {
			pos++
		}
	}
	neg := len(samples) - pos
	hiT := (float64(pos) + 1) / (float64(pos) + 2)
	loT := 1 / (float64(neg) + 2)
	target := func(s Sample) float64 {
		if s.Correct {
			return hiT
		}
		return loT
	}
	loss := func(a, b float64) float64 {
		l := 0.0
		for _, s := range samples {
			f := a*s.Score + b
			l += softplus(f) - target(s)*f
		}
		return l
	}

	const (
		maxIter = 100
		minStep = 1e-10
		ridge   = 1e-12 // keeps the Hessian invertible when scores are all equal
		sigma   = 1e-4  // sufficient-decrease constant of the line search
	)
	a, b := 0.0, math.Log((float64(pos)+1)/(float64(neg)+1))
	l := loss(a, b)
	tol := 1e-10 * float64(len(samples))
	for range maxIter {
		var ga, gb, haa, hab, hbb float64
		for _, s := range samples {
			p := sigmoid(a*s.Score + b)
			d := p - target(s)
			ga += d * s.Score
			gb += d
			v := p * (1 - p)
			haa += v * s.Score * s.Score
			hab += v * s.Score
			hbb += v
		}
		if math.Abs(ga) < tol && math.Abs(gb) < tol {
			break
		}
		haa += ridge
		hbb += ridge
		det := haa*hbb - hab*hab
		if !(det > 0) {
			break
		}
		// Newton direction: -H⁻¹g.
		da := -(hbb*ga - hab*gb) / det
		db := -(-hab*ga + haa*gb) / det
		slope := ga*da + gb*db
		step := 1.0
		for step >= minStep {
			na, nb := a+step*da, b+step*db
			if nl := loss(na, nb); nl < l+sigma*step*slope {
				a, b, l = na, nb, nl
				break
			}
			step /= 2
		}
		if step < minStep {
			break // no further progress possible in floating point
		}
	}
	return Platt{A: a, B: b}, nil
}

// Predict implements Calibrator.
func (p Platt) Predict(score float64) float64 {
	v := sigmoid(p.A*score + p.B)
	if math.IsNaN(v) {
		return 0
	}
	return v
}

// Validate checks a decoded Platt: A and B finite.
func (p Platt) Validate() error {
	if !isFinite(p.A) || !isFinite(p.B) {
		return fmt.Errorf("%w: platt a = %v, b = %v, want finite", ErrInvalidParameter, p.A, p.B)
	}
	return nil
}

// sigmoid is the logistic function, computed without overflow.
func sigmoid(f float64) float64 {
	if f >= 0 {
		return 1 / (1 + math.Exp(-f))
	}
	e := math.Exp(f)
	return e / (1 + e)
}

// softplus is log(1 + exp(f)), computed without overflow.
func softplus(f float64) float64 {
	if f > 0 {
		return f + math.Log1p(math.Exp(-f))
	}
	return math.Log1p(math.Exp(f))
}

// clamp01 limits v to [0, 1]; NaN maps to 0.
func clamp01(v float64) float64 {
	switch {
	case v > 1:
		return 1
	case v >= 0:
		return v
	default:
		return 0
	}
}
