package probe

import (
	"fmt"
	"math"
	"slices"
)

// Logistic is a logistic-regression probe on raw features:
//
//	p(x) = sigmoid(Weights·x + Bias)
//
// p is the probability of the positive label the probe was trained with
// (Meta.Label says what that label meant, e.g. "correct").
type Logistic struct {
	// Weights has one entry per feature (len = feature size D).
	Weights []float64
	// Bias is the intercept.
	Bias float64
}

// Dim returns the feature size D.
func (m *Logistic) Dim() int { return len(m.Weights) }

// Logit returns Weights·x + Bias (the log-odds of the positive label).
func (m *Logistic) Logit(x []float64) (float64, error) {
	if len(x) != len(m.Weights) {
		return 0, badInput("got %d features, probe takes %d", len(x), len(m.Weights))
	}
	z := m.Bias
	for j, w := range m.Weights {
		z += w * x[j]
	}
	if math.IsNaN(z) || math.IsInf(z, 0) {
		return 0, badInput("logit is %v (features not finite?)", z)
	}
	return z, nil
}

// Predict returns the probability of the positive label for one feature
// vector x, in float64 and pure Go. It is safe for concurrent use as long as
// m is not modified.
func (m *Logistic) Predict(x []float64) (float64, error) {
	z, err := m.Logit(x)
	if err != nil {
		return 0, err
	}
	return sigmoid(z), nil
}

// validate checks that m can be evaluated and exported.
func (m *Logistic) validate() error {
	if m == nil || len(m.Weights) == 0 {
		return badInput("probe has no weights")
	}
	for j, w := range m.Weights {
		if !finite(w) {
			return badInput("weight %d is %v", j, w)
		}
	}
	if !finite(m.Bias) {
		return badInput("bias is %v", m.Bias)
	}
	return nil
}

// sigmoid is the logistic function, without overflow for large |z|.
func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// softplus returns log(1+exp(z)) without overflow.
func softplus(z float64) float64 {
	if z > 0 {
		return z + math.Log1p(math.Exp(-z))
	}
	return math.Log1p(math.Exp(z))
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// TrainOptions configures Train. Start from DefaultTrainOptions; every value
// is used as given (an L2 of 0 means no regularization, not "default").
type TrainOptions struct {
	// L2 is the ridge penalty on the standardized weights: Train minimizes
	// mean log-loss + L2/2·‖w‖² (the bias is not penalized). Must be ≥ 0.
	// Hidden states have hundreds to thousands of dimensions and training
	// sets are small, so some regularization is usually needed; with L2 = 0
	// on separable data the weights only stop growing at MaxIterations.
	L2 float64
	// MaxIterations bounds the L-BFGS iterations. Must be > 0.
	MaxIterations int
	// GradientTolerance stops training once the largest gradient component
	// of the objective is below it. Must be > 0.
	GradientTolerance float64
}

// DefaultTrainOptions returns L2 1e-2, 1000 iterations, gradient tolerance
// 1e-6.
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{L2: 1e-2, MaxIterations: 1000, GradientTolerance: 1e-6}
}

// Validate names the first unusable option.
func (o TrainOptions) Validate() error {
	switch {
	case !finite(o.L2) || o.L2 < 0:
		return badInput("train option L2 = %v, want a finite value ≥ 0", o.L2)
	case o.MaxIterations <= 0:
		return badInput("train option MaxIterations = %d, want > 0", o.MaxIterations)
	case !finite(o.GradientTolerance) || o.GradientTolerance <= 0:
		return badInput("train option GradientTolerance = %v, want a finite value > 0", o.GradientTolerance)
	}
	return nil
}

// TrainStats describes a training run.
type TrainStats struct {
	Examples   int     // rows of X
	Positives  int     // rows with y true
	Iterations int     // L-BFGS major iterations
	Converged  bool    // false if stopped by MaxIterations or a line-search failure
	Status     string  // why the optimizer stopped, e.g. "gradient below tolerance"
	Loss       float64 // final objective: mean log-loss + L2/2·‖w‖²
	Accuracy   float64 // training accuracy at probability 0.5

	// Float32Error estimates, on the training rows, how far the probe's
	// probability can drift when evaluated in float32 (the ONNX model,
	// onnxruntime) instead of float64 (Predict). Folding the standardization
	// into the weights makes terms w_j·x_j large when a feature's mean is
	// large next to its spread, and float32 loses those digits; values above
	// about 1e-4 mean such features (consider centering them upstream).
	Float32Error float64
}

// Train fits an L2-regularized logistic regression of y on X (one row per
// example, all rows the same length D) and returns it in raw feature space.
//
// Each feature is standardized to mean 0 and standard deviation 1 during
// training (constant features are left unscaled and get weight 0), so that L2
// penalizes all features alike; the standardization is then folded into the
// weights and bias, so the result takes raw features. The optimizer is
// L-BFGS started from zero (see lbfgs.go), run serially: the same input gives
// the same model, bit for bit, on the same platform.
//
// Train needs both classes in y and finite features. Memory use is O(D): X is
// not copied.
func Train[T float32 | float64](X [][]T, y []bool, opts TrainOptions) (*Logistic, TrainStats, error) {
	var stats TrainStats
	if err := opts.Validate(); err != nil {
		return nil, stats, fmt.Errorf("train probe: %w", err)
	}
	sc, err := standardize(X, y)
	if err != nil {
		return nil, stats, fmt.Errorf("train probe: %w", err)
	}
	n, d := len(X), sc.dim()
	stats.Examples = n
	for _, v := range y {
		if v {
			stats.Positives++
		}
	}

	obj := &objective[T]{X: X, y: y, sc: sc, l2: opts.L2, resid: make([]float64, n)}
	// Parameters: d standardized weights, then the bias; start at zero.
	params := make([]float64, d+1)
	res := minimizeLBFGS(obj.eval, params, opts.MaxIterations, opts.GradientTolerance)
	for _, v := range params {
		if !finite(v) {
			return nil, stats, fmt.Errorf("train probe: optimizer diverged (%s): %w", res.status, ErrBadInput)
		}
	}
	stats.Iterations = res.iterations
	stats.Status = res.status
	stats.Converged = res.converged
	stats.Loss = res.f

	m := sc.fold(params[:d], params[d])
	correct := 0
	var maxAbs float64
	for i, row := range X {
		z, abs := m.Bias, math.Abs(m.Bias)
		for j, w := range m.Weights {
			t := w * float64(row[j])
			z += t
			abs += math.Abs(t)
		}
		if (z >= 0) == y[i] {
			correct++
		}
		maxAbs = math.Max(maxAbs, abs)
	}
	stats.Accuracy = float64(correct) / float64(n)
	// Rounding error of a float32 dot product grows like √D·u·Σ|terms|
	// (u = 2⁻²⁴), plus u·|term| for rounding weights and inputs; the
	// sigmoid's slope is at most 1/4.
	stats.Float32Error = 0.25 * 0x1p-24 * (math.Sqrt(float64(d)) + 2) * maxAbs
	return m, stats, nil
}

// scaling holds per-feature means and inverse standard deviations.
type scaling struct {
	mean   []float64
	invStd []float64
}

func (s *scaling) dim() int { return len(s.mean) }

// fold turns standardized-space weights w and bias b into raw space:
// Σ w_j (x_j-μ_j)/σ_j + b = Σ (w_j/σ_j) x_j + (b - Σ w_j μ_j/σ_j).
func (s *scaling) fold(w []float64, b float64) *Logistic {
	m := &Logistic{Weights: make([]float64, len(w)), Bias: b}
	for j := range w {
		m.Weights[j] = w[j] * s.invStd[j]
		m.Bias -= m.Weights[j] * s.mean[j]
	}
	return m
}

// standardize checks X and y and computes the scaling (two passes, fixed
// order, so it is deterministic).
func standardize[T float32 | float64](X [][]T, y []bool) (*scaling, error) {
	if len(X) == 0 {
		return nil, badInput("no training examples")
	}
	if len(y) != len(X) {
		return nil, badInput("%d rows of features but %d labels", len(X), len(y))
	}
	d := len(X[0])
	if d == 0 {
		return nil, badInput("feature size is 0")
	}
	if !slices.Contains(y, true) || !slices.Contains(y, false) {
		return nil, badInput("labels are all %v: need both classes", y[0])
	}
	s := &scaling{mean: make([]float64, d), invStd: make([]float64, d)}
	for i, row := range X {
		if len(row) != d {
			return nil, badInput("row %d has %d features, row 0 has %d", i, len(row), d)
		}
		for j, v := range row {
			f := float64(v)
			if !finite(f) {
				return nil, badInput("feature %d of row %d is %v", j, i, f)
			}
			s.mean[j] += f
		}
	}
	n := float64(len(X))
	for j := range s.mean {
		s.mean[j] /= n
	}
	for _, row := range X {
		for j, v := range row {
			dv := float64(v) - s.mean[j]
			s.invStd[j] += dv * dv
		}
	}
	for j, ss := range s.invStd {
		std := math.Sqrt(ss / n)
		if std > 0 && finite(1/std) {
			s.invStd[j] = 1 / std
		} else {
			s.invStd[j] = 1 // constant feature: stays 0 after centering
		}
	}
	return s, nil
}

// objective is the regularized mean log-loss in standardized space.
type objective[T float32 | float64] struct {
	X     [][]T
	y     []bool
	sc    *scaling
	l2    float64
	resid []float64 // scratch: p_i - y_i
}

// eval returns the objective at x = (w, b) and writes its gradient into g.
func (o *objective[T]) eval(x, g []float64) float64 {
	d := o.sc.dim()
	w, b := x[:d], x[d]
	// Scaled weights v_j = w_j/σ_j, so z = b + Σ v_j (x_j - μ_j).
	v := make([]float64, d)
	for j := range v {
		v[j] = w[j] * o.sc.invStd[j]
	}
	var loss, rsum float64
	for i, row := range o.X {
		z := b
		for j, xv := range row {
			z += v[j] * (float64(xv) - o.sc.mean[j])
		}
		if o.y[i] {
			loss += softplus(-z) // -log sigmoid(z)
			o.resid[i] = sigmoid(z) - 1
		} else {
			loss += softplus(z) // -log(1 - sigmoid(z))
			o.resid[i] = sigmoid(z)
		}
		rsum += o.resid[i]
	}
	clear(g)
	for i, row := range o.X {
		r := o.resid[i]
		if r == 0 {
			continue
		}
		for j, xv := range row {
			g[j] += r * (float64(xv) - o.sc.mean[j])
		}
	}
	n := float64(len(o.X))
	var pen float64
	for j := range w {
		g[j] = g[j]*o.sc.invStd[j]/n + o.l2*w[j]
		pen += w[j] * w[j]
	}
	g[d] = rsum / n
	return loss/n + o.l2/2*pen
}
