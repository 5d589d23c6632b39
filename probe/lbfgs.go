package probe

import "math"

// This file holds a small L-BFGS minimizer for the (smooth, convex) training
// objective. gonum's optimize package would do, but it imports
// gonum/stat/distmv and through it golang.org/x/tools, which this module does
// not otherwise need; the method below is the textbook one (Nocedal &
// Wright, Numerical Optimization, algorithms 7.4 and 7.5 with a backtracking
// Armijo line search) and is deterministic: sequential float64 arithmetic in a
// fixed order.

// lbfgsMemory is the number of correction pairs kept.
const lbfgsMemory = 10

// minimizeResult is the outcome of minimizeLBFGS.
type minimizeResult struct {
	f          float64 // objective at x
	iterations int
	status     string
	converged  bool
}

// minimizeLBFGS minimizes f from x (updated in place). eval returns f(x) and
// writes the gradient into grad. It stops when the largest gradient component
// is below gtol (converged), when f stops decreasing in relative terms by more
// than rounding error (converged), after maxIter iterations, or when the line
// search finds no decrease (not converged; x is the best point found).
func minimizeLBFGS(eval func(x, grad []float64) float64, x []float64, maxIter int, gtol float64) minimizeResult {
	n := len(x)
	g := make([]float64, n)
	f := eval(x, g)
	var (
		s, y  [lbfgsMemory][]float64
		rho   [lbfgsMemory]float64
		alpha [lbfgsMemory]float64
		count int // stored pairs
		next  int // ring position of the next pair
	)
	for i := range s {
		s[i] = make([]float64, n)
		y[i] = make([]float64, n)
	}
	d := make([]float64, n)
	xNew := make([]float64, n)
	gNew := make([]float64, n)

	for it := 0; it < maxIter; it++ {
		if normInf(g) < gtol {
			return minimizeResult{f: f, iterations: it, status: "gradient below tolerance", converged: true}
		}
		// Two-loop recursion: d = -H·g.
		copy(d, g)
		for k := 1; k <= count; k++ {
			i := (next - k + lbfgsMemory) % lbfgsMemory
			alpha[i] = rho[i] * dot(s[i], d)
			axpy(-alpha[i], y[i], d)
		}
		gamma := 1 / math.Sqrt(dot(g, g)) // first step: unit length
		if count > 0 {
			last := (next - 1 + lbfgsMemory) % lbfgsMemory
			gamma = dot(s[last], y[last]) / dot(y[last], y[last])
		}
		scale(gamma, d)
		for k := count; k >= 1; k-- {
			i := (next - k + lbfgsMemory) % lbfgsMemory
			beta := rho[i] * dot(y[i], d)
			axpy(alpha[i]-beta, s[i], d)
		}
		scale(-1, d)
		gd := dot(g, d)
		if !(gd < 0) { // not a descent direction (rounding): restart from -g
			count, next = 0, 0
			copy(d, g)
			scale(-1/math.Sqrt(dot(g, g)), d)
			gd = dot(g, d)
		}

		// Backtracking line search with the Armijo condition.
		step, fNew := 1.0, math.Inf(1)
		for ls := 0; ; ls++ {
			copy(xNew, x)
			axpy(step, d, xNew)
			fNew = eval(xNew, gNew)
			if fNew <= f+1e-4*step*gd {
				break
			}
			if ls == 60 {
				return minimizeResult{f: f, iterations: it, status: "line search found no decrease"}
			}
			step /= 2
		}

		// Store the correction pair if it keeps H positive definite.
		for j := range n {
			s[next][j] = xNew[j] - x[j]
			y[next][j] = gNew[j] - g[j]
		}
		if sy := dot(s[next], y[next]); sy > 1e-12*math.Sqrt(dot(s[next], s[next])*dot(y[next], y[next])) {
			rho[next] = 1 / sy
			next = (next + 1) % lbfgsMemory
			count = min(count+1, lbfgsMemory)
		}
		decrease := f - fNew
		copy(x, xNew)
		copy(g, gNew)
		f = fNew
		if decrease <= 1e-15*math.Max(1, math.Abs(f)) {
			return minimizeResult{f: f, iterations: it + 1, status: "objective stopped decreasing", converged: true}
		}
	}
	if normInf(g) < gtol {
		return minimizeResult{f: f, iterations: maxIter, status: "gradient below tolerance", converged: true}
	}
	return minimizeResult{f: f, iterations: maxIter, status: "iteration limit"}
}

func dot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// axpy sets y += a·x.
func axpy(a float64, x, y []float64) {
	for i, v := range x {
		y[i] += a * v
	}
}

func scale(a float64, x []float64) {
	for i := range x {
		x[i] *= a
	}
}

func normInf(x []float64) float64 {
	var m float64
	for _, v := range x {
		m = math.Max(m, math.Abs(v))
	}
	return m
}
