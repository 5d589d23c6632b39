package probe

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// synthetic returns n rows of d features whose label is the sign of a fixed
// linear function plus a little label noise (flip probability noise), with
// features on very different scales and offsets, from a fixed seed.
func synthetic(seed uint64, n, d int, noise float64) ([][]float64, []bool, []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	truth := make([]float64, d)
	for j := range truth {
		truth[j] = rng.NormFloat64()
	}
	X := make([][]float64, n)
	y := make([]bool, n)
	for i := range X {
		row := make([]float64, d)
		var z float64
		for j := range row {
			u := rng.NormFloat64()
			z += truth[j] * u
			// Feature j is u scaled by 10^(j%5-2) and shifted: standardization
			// has to undo this for L2 to treat features alike.
			row[j] = u*math.Pow(10, float64(j%5-2)) + float64(j)
		}
		X[i] = row
		y[i] = (z > 0) != (rng.Float64() < noise)
	}
	return X, y, truth
}

func accuracy(t *testing.T, m *Logistic, X [][]float64, y []bool) float64 {
	t.Helper()
	correct := 0
	for i, row := range X {
		p, err := m.Predict(row)
		if err != nil {
			t.Fatalf("predict row %d: %v", i, err)
		}
		if (p >= 0.5) == y[i] {
			correct++
		}
	}
	return float64(correct) / float64(len(X))
}

func TestTrainRecoversSeparableData(t *testing.T) {
	const d = 64
	X, y, _ := synthetic(42, 3000, d, 0)
	trainX, trainY, testX, testY := X[:2000], y[:2000], X[2000:], y[2000:]

	m, stats, err := Train(trainX, trainY, DefaultTrainOptions())
	if err != nil {
		t.Fatalf("train: %v", err)
	}
	t.Logf("stats: %+v", stats)
	if !stats.Converged {
		t.Errorf("did not converge: %s after %d iterations", stats.Status, stats.Iterations)
	}
	if stats.Examples != 2000 || stats.Positives != countTrue(trainY) {
		t.Errorf("counts: %d examples, %d positives; want 2000, %d", stats.Examples, stats.Positives, countTrue(trainY))
	}
	if m.Dim() != d {
		t.Fatalf("dim %d, want %d", m.Dim(), d)
	}
	if acc := accuracy(t, m, testX, testY); acc < 0.95 {
		t.Errorf("held-out accuracy %.3f, want ≥ 0.95", acc)
	} else {
		t.Logf("held-out accuracy %.3f, training accuracy %.3f", acc, stats.Accuracy)
	}
}

func TestTrainNoisyData(t *testing.T) {
	X, y, _ := synthetic(7, 2000, 16, 0.1)
	m, stats, err := Train(X[:1500], y[:1500], DefaultTrainOptions())
	if err != nil {
		t.Fatalf("train: %v", err)
	}
	// Bayes accuracy is 0.9 with 10% label flips.
	if acc := accuracy(t, m, X[1500:], y[1500:]); acc < 0.85 {
		t.Errorf("held-out accuracy %.3f with 10%% label noise, want ≥ 0.85 (stats %+v)", acc, stats)
	}
}

func countTrue(y []bool) int {
	n := 0
	for _, v := range y {
		if v {
			n++
		}
	}
	return n
}

func TestTrainDeterministic(t *testing.T) {
	X, y, _ := synthetic(3, 500, 32, 0.05)
	a, _, err := Train(X, y, DefaultTrainOptions())
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := Train(X, y, DefaultTrainOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Weights, b.Weights) || a.Bias != b.Bias {
		t.Errorf("two runs on the same data differ")
	}
}

// TestTrainStandardizationFolded checks the folded model takes raw features:
// rescaling and shifting a feature must not change predictions, since the
// penalty applies to standardized weights.
func TestTrainStandardizationFolded(t *testing.T) {
	X, y, _ := synthetic(11, 800, 8, 0.1)
	shifted := make([][]float64, len(X))
	for i, row := range X {
		r := slices.Clone(row)
		r[0] = r[0]*1e4 - 3e5
		r[3] = r[3] * 1e-3
		shifted[i] = r
	}
	a, _, err := Train(X, y, DefaultTrainOptions())
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := Train(shifted, y, DefaultTrainOptions())
	if err != nil {
		t.Fatal(err)
	}
	var maxDiff float64
	for i := range X {
		pa, _ := a.Predict(X[i])
		pb, _ := b.Predict(shifted[i])
		maxDiff = math.Max(maxDiff, math.Abs(pa-pb))
	}
	if maxDiff > 1e-6 {
		t.Errorf("predictions change by up to %g when features are rescaled", maxDiff)
	}
}

func TestTrainFloat32(t *testing.T) {
	X, y, _ := synthetic(5, 1000, 16, 0)
	X32 := make([][]float32, len(X))
	for i, row := range X {
		X32[i] = make([]float32, len(row))
		for j, v := range row {
			X32[i][j] = float32(v)
		}
	}
	m, _, err := Train(X32, y, DefaultTrainOptions())
	if err != nil {
		t.Fatal(err)
	}
	if acc := accuracy(t, m, X, y); acc < 0.95 {
		t.Errorf("training accuracy %.3f on float32 features, want ≥ 0.95", acc)
	}
}

func TestTrainConstantFeature(t *testing.T) {
	X, y, _ := synthetic(9, 400, 4, 0)
	for _, row := range X {
		row[2] = 7 // constant
	}
	m, _, err := Train(X, y, DefaultTrainOptions())
	if err != nil {
		t.Fatal(err)
	}
	if m.Weights[2] != 0 {
		t.Errorf("constant feature got weight %g, want 0", m.Weights[2])
	}
}

func TestTrainBadInput(t *testing.T) {
	good := [][]float64{{0, 1}, {1, 0}}
	opts := DefaultTrainOptions()
	tests := []struct {
		name string
		X    [][]float64
		y    []bool
		opts TrainOptions
	}{
		{"no rows", nil, nil, opts},
		{"label count", good, []bool{true}, opts},
		{"one class", good, []bool{true, true}, opts},
		{"ragged", [][]float64{{0, 1}, {1}}, []bool{true, false}, opts},
		{"empty rows", [][]float64{{}, {}}, []bool{true, false}, opts},
		{"nan", [][]float64{{0, math.NaN()}, {1, 0}}, []bool{true, false}, opts},
		{"inf", [][]float64{{0, math.Inf(1)}, {1, 0}}, []bool{true, false}, opts},
		{"negative L2", good, []bool{true, false}, TrainOptions{L2: -1, MaxIterations: 10, GradientTolerance: 1e-6}},
		{"no iterations", good, []bool{true, false}, TrainOptions{L2: 1, MaxIterations: 0, GradientTolerance: 1e-6}},
		{"zero tolerance", good, []bool{true, false}, TrainOptions{L2: 1, MaxIterations: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Train(tt.X, tt.y, tt.opts)
			if !errors.Is(err, ErrBadInput) {
				t.Errorf("err = %v, want ErrBadInput", err)
			}
		})
	}
}

// TestTrainZeroL2 checks that L2 = 0 is honored (not replaced by a default)
// and stays finite on separable data.
func TestTrainZeroL2(t *testing.T) {
	X, y, _ := synthetic(13, 300, 4, 0)
	opts := DefaultTrainOptions()
	opts.L2 = 0
	opts.MaxIterations = 50
	m0, _, err := Train(X, y, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.L2 = 1e-2
	m1, _, err := Train(X, y, opts)
	if err != nil {
		t.Fatal(err)
	}
	if norm(m0.Weights) <= norm(m1.Weights) {
		t.Errorf("‖w‖ with L2=0 (%g) not above ‖w‖ with L2=1e-2 (%g)", norm(m0.Weights), norm(m1.Weights))
	}
}

func norm(w []float64) float64 { return math.Sqrt(dot(w, w)) }

func TestLogisticPredict(t *testing.T) {
	m := &Logistic{Weights: []float64{2, -1}, Bias: 0.5}
	p, err := m.Predict([]float64{1, 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 / (1 + math.Exp(0.5)); math.Abs(p-want) > 1e-15 {
		t.Errorf("p = %v, want %v", p, want)
	}
	if _, err := m.Predict([]float64{1}); !errors.Is(err, ErrBadInput) {
		t.Errorf("short input: err = %v, want ErrBadInput", err)
	}
	// Large logits must not overflow.
	for _, z := range []float64{-800, 800} {
		p := sigmoid(z)
		if math.IsNaN(p) || p < 0 || p > 1 {
			t.Errorf("sigmoid(%v) = %v", z, p)
		}
	}
}

// TestObjectiveGradient compares the analytic gradient with central
// differences.
func TestObjectiveGradient(t *testing.T) {
	X, y, _ := synthetic(17, 50, 5, 0.2)
	sc, err := standardize(X, y)
	if err != nil {
		t.Fatal(err)
	}
	o := &objective[float64]{X: X, y: y, sc: sc, l2: 0.3, resid: make([]float64, len(X))}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 6)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	g := make([]float64, len(x))
	o.eval(x, g)
	scratch := make([]float64, len(x))
	const h = 1e-6
	for i := range x {
		xp, xm := slices.Clone(x), slices.Clone(x)
		xp[i] += h
		xm[i] -= h
		num := (o.eval(xp, scratch) - o.eval(xm, scratch)) / (2 * h)
		if math.Abs(num-g[i]) > 1e-6 {
			t.Errorf("gradient[%d] = %g, central difference %g", i, g[i], num)
		}
	}
}
