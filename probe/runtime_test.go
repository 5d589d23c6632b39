//go:build cgo

package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// The onnxruntime environment is process-global, so the tests share one
// Runtime, created on first use and closed by TestMain.
var shared struct {
	sync.Mutex
	libPath string
	libErr  error
	libDone bool
	rt      *Runtime
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.rt != nil {
		if err := shared.rt.Close(); err != nil {
			println("close shared runtime:", err.Error())
			code = 1
		}
	}
	os.Exit(code)
}

// libraryPath finds libonnxruntime: $EDGECASCADE_ONNXRUNTIME_LIB, else the
// path scripts/install-onnxruntime.sh prints (it downloads the library
// once, then reuses it). It skips the test only if neither works.
func libraryPath(t testing.TB) string {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if !shared.libDone {
		shared.libDone = true
		shared.libPath, shared.libErr = findLibrary()
	}
	if shared.libErr != nil {
		t.Skipf("onnxruntime library unavailable, skipping: %v "+
			"(set EDGECASCADE_ONNXRUNTIME_LIB to libonnxruntime.so.1 of onnxruntime 1.24, or let scripts/install-onnxruntime.sh fetch it: it needs npm and the npm registry)", shared.libErr)
	}
	return shared.libPath
}

func findLibrary() (string, error) {
	var envErr error
	if p := os.Getenv("EDGECASCADE_ONNXRUNTIME_LIB"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		envErr = fmt.Errorf("EDGECASCADE_ONNXRUNTIME_LIB=%q does not exist", p)
		fmt.Fprintf(os.Stderr, "probe tests: %v; trying scripts/install-onnxruntime.sh\n", envErr)
	}
	script, err := filepath.Abs(filepath.Join("..", "scripts", "install-onnxruntime.sh"))
	if err != nil {
		return "", err
	}
	var stderr bytes.Buffer
	cmd := exec.Command("bash", script)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", errors.Join(envErr, fmt.Errorf("%s failed: %w: %s", script, err, strings.TrimSpace(stderr.String())))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	p := lines[len(lines)-1]
	if _, err := os.Stat(p); err != nil {
		return "", errors.Join(envErr, fmt.Errorf("%s printed %q: %w", script, p, err))
	}
	return p, nil
}

// closeShared closes the shared Runtime, if any; the next runtimeFor
// creates a new one.
func closeShared(t testing.TB) {
	t.Helper()
	shared.Lock()
	rt := shared.rt
	shared.rt = nil
	shared.Unlock()
	if rt != nil {
		if err := rt.Close(); err != nil {
			t.Fatalf("close shared runtime: %v", err)
		}
	}
}

// runtimeFor returns the shared Runtime, creating it if needed.
func runtimeFor(t testing.TB) *Runtime {
	t.Helper()
	lib := libraryPath(t)
	shared.Lock()
	defer shared.Unlock()
	if shared.rt == nil {
		rt, err := NewRuntime(lib)
		if err != nil {
			t.Fatalf("new runtime with %s: %v", lib, err)
		}
		shared.rt = rt
	}
	return shared.rt
}

// randomFeatures returns n float32 vectors of d normal values.
func randomFeatures(seed uint64, n, d int) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 4))
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, d)
		for j := range out[i] {
			out[i][j] = float32(rng.NormFloat64() * 2)
		}
	}
	return out
}

func to64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// hiddenLike returns n rows of d features that look like hidden states: per
// dimension a mean in [-1, 1] and a spread in [0.1, 10]; labels follow a
// fixed linear rule with 5% flips.
func hiddenLike(seed uint64, n, d int) ([][]float64, []bool) {
	rng := rand.New(rand.NewPCG(seed, 5))
	mean, spread, truth := make([]float64, d), make([]float64, d), make([]float64, d)
	for j := range d {
		mean[j] = 2*rng.Float64() - 1
		spread[j] = math.Pow(10, 2*rng.Float64()-1)
		truth[j] = rng.NormFloat64()
	}
	X, y := make([][]float64, n), make([]bool, n)
	for i := range X {
		X[i] = make([]float64, d)
		var z float64
		for j := range d {
			u := rng.NormFloat64()
			z += truth[j] * u
			X[i][j] = mean[j] + spread[j]*u
		}
		y[i] = (z > 0) != (rng.Float64() < 0.05)
	}
	return X, y
}

func rows32(X [][]float64) [][]float32 {
	out := make([][]float32, len(X))
	for i, row := range X {
		out[i] = make([]float32, len(row))
		for j, v := range row {
			out[i][j] = float32(v)
		}
	}
	return out
}

// TestONNXMatchesGo runs probes written from Go in onnxruntime and compares
// with Logistic.Predict in float64, one row at a time through Probe.Predict
// and as a batch of rows through a dynamic-shape session.
func TestONNXMatchesGo(t *testing.T) {
	rt := runtimeFor(t)
	t.Logf("onnxruntime %s from %s", rt.Version(), rt.LibPath())

	hX, hy := hiddenLike(21, 600, 64)
	trained, hstats, err := Train(hX, hy, DefaultTrainOptions())
	if err != nil {
		t.Fatal(err)
	}
	// Features whose mean is thousands of times their spread: folding the
	// standardization makes float32 lose digits, which Float32Error predicts.
	bX, by, _ := synthetic(22, 600, 64, 0.05)
	illCond, bstats, err := Train(bX, by, DefaultTrainOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Float32Error estimate: %.3g hidden-like, %.3g ill-conditioned", hstats.Float32Error, bstats.Float32Error)

	tests := []struct {
		name   string
		m      *Logistic
		inputs [][]float32
		tol    float64
	}{
		{"random D=64", randomLogistic(7, 64), randomFeatures(64, 300, 64), 1e-5},
		{"random D=1", randomLogistic(8, 1), randomFeatures(1, 300, 1), 1e-5},
		{"random D=896", randomLogistic(9, 896), randomFeatures(896, 300, 896), 1e-5},
		{"trained D=64 hidden-like", trained, rows32(hX[:300]), 1e-5},
		{"trained D=64 ill-conditioned", illCond, rows32(bX[:300]), bstats.Float32Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, d := tt.m, tt.m.Dim()
			path := writeProbe(t, m, testMeta())
			p, err := rt.Load(path, "qwen2.5:0.5b", d)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			defer p.Close()

			var maxDiff float64
			for i, x := range tt.inputs {
				got, err := p.Predict(context.Background(), x)
				if err != nil {
					t.Fatalf("predict %d: %v", i, err)
				}
				want, err := m.Predict(to64(x))
				if err != nil {
					t.Fatal(err)
				}
				maxDiff = math.Max(maxDiff, math.Abs(got-want))
			}
			t.Logf("max |onnxruntime - Go| over %d inputs: %.3g (tolerance %.3g)", len(tt.inputs), maxDiff, tt.tol)
			if maxDiff > tt.tol {
				t.Errorf("onnxruntime differs from Go math by up to %g, want ≤ %g", maxDiff, tt.tol)
			}

			batch := runBatch(t, path, tt.inputs[:37], d)
			for i, got := range batch {
				want, _ := m.Predict(to64(tt.inputs[i]))
				if math.Abs(float64(got)-want) > tt.tol {
					t.Fatalf("batch row %d: %v, Go %v", i, got, want)
				}
			}
		})
	}
}

// runBatch runs the probe on a [N, D] batch (checking the batch dimension
// is dynamic) and returns the [N, 1] output.
func runBatch(t *testing.T, path string, rows [][]float32, d int) []float32 {
	t.Helper()
	flat := make([]float32, 0, len(rows)*d)
	for _, r := range rows {
		flat = append(flat, r...)
	}
	in, err := ort.NewTensor(ort.NewShape(int64(len(rows)), int64(d)), flat)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(len(rows)), 1))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Destroy()
	sess, err := ort.NewDynamicAdvancedSession(path, []string{InputName}, []string{OutputName}, nil)
	if err != nil {
		t.Fatalf("dynamic session: %v", err)
	}
	defer sess.Destroy()
	if err := sess.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
		t.Fatalf("batch run: %v", err)
	}
	return out.GetData()
}

func TestLoadRefusesMismatch(t *testing.T) {
	rt := runtimeFor(t)
	path := writeProbe(t, randomLogistic(10, 64), testMeta()) // qwen2.5:0.5b, D=64
	tests := []struct {
		name      string
		model     string
		dim       int
		wantInMsg []string
	}{
		{"other model", "llama3.2:1b", 64, []string{`"qwen2.5:0.5b"`, `"llama3.2:1b"`}},
		{"other feature size", "qwen2.5:0.5b", 896, []string{"64", "896"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := rt.Load(path, tt.model, tt.dim)
			if err == nil {
				p.Close()
				t.Fatal("loaded a mismatched probe")
			}
			var me *MismatchError
			if !errors.Is(err, ErrMismatch) || !errors.As(err, &me) {
				t.Fatalf("err = %v, want a MismatchError", err)
			}
			for _, s := range tt.wantInMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
			t.Logf("%v", err)
		})
	}
	if _, err := rt.Load(path, "", 64); !errors.Is(err, ErrBadInput) {
		t.Errorf("empty model name: err = %v, want ErrBadInput", err)
	}
	garbage := filepath.Join(t.TempDir(), "model.gguf")
	if err := os.WriteFile(garbage, []byte("GGUF\x03\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Load(garbage, "qwen2.5:0.5b", 64); !errors.Is(err, ErrNotProbe) {
		t.Errorf("non-probe file: err = %v, want ErrNotProbe", err)
	}
}

func TestNewRuntimeMissingLibrary(t *testing.T) {
	dir := t.TempDir()
	for _, lib := range []string{"", filepath.Join(dir, "libonnxruntime.so.1"), dir} {
		_, err := NewRuntime(lib)
		if !errors.Is(err, ErrLibraryMissing) {
			t.Fatalf("NewRuntime(%q): err = %v, want ErrLibraryMissing", lib, err)
		}
		for _, s := range []string{"probe.onnxruntime_lib", "scripts/install-onnxruntime.sh"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("NewRuntime(%q): error %q does not mention %s", lib, err, s)
			}
		}
		t.Logf("%v", err)
	}
}

// TestNewRuntimeNotALibrary: dlopen fails on a file that is not a shared
// library, and the error names the setting. This needs no environment held,
// so the shared one is closed first.
func TestNewRuntimeNotALibrary(t *testing.T) {
	libraryPath(t) // skip with the others when onnxruntime is unavailable
	closeShared(t)
	bogus := filepath.Join(t.TempDir(), "bogus.so")
	if err := os.WriteFile(bogus, []byte("not elf"), 0o644); err != nil {
		t.Fatal(err)
	}
	rt, err := NewRuntime(bogus)
	if err == nil {
		rt.Close()
		t.Fatal("NewRuntime accepted a file that is not a library")
	}
	if !strings.Contains(err.Error(), "probe.onnxruntime_lib") {
		t.Errorf("bogus library: error %q does not name probe.onnxruntime_lib", err)
	}
	t.Logf("%v", err)
	runtimeFor(t) // the real library still loads afterwards
}

func TestRuntimeOnePerProcess(t *testing.T) {
	rt := runtimeFor(t)
	if _, err := NewRuntime(rt.LibPath()); !errors.Is(err, ErrRuntimeExists) {
		t.Errorf("second NewRuntime: err = %v, want ErrRuntimeExists", err)
	}
}

// TestRuntimeClose closes the shared runtime (its probes must refuse to
// run), then creates a new one: the environment can be re-initialized.
func TestRuntimeClose(t *testing.T) {
	rt := runtimeFor(t)
	path := writeProbe(t, randomLogistic(11, 8), testMeta())
	p, err := rt.Load(path, "qwen2.5:0.5b", 8)
	if err != nil {
		t.Fatal(err)
	}
	shared.Lock()
	shared.rt = nil
	shared.Unlock()
	if err := rt.Close(); err != nil {
		t.Fatalf("close runtime: %v", err)
	}
	if err := rt.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := p.Predict(context.Background(), make([]float32, 8)); !errors.Is(err, ErrClosed) {
		t.Errorf("predict after runtime close: err = %v, want ErrClosed", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("probe close after runtime close: %v", err)
	}
	if _, err := rt.Load(path, "qwen2.5:0.5b", 8); !errors.Is(err, ErrClosed) {
		t.Errorf("load after close: err = %v, want ErrClosed", err)
	}

	rt2 := runtimeFor(t) // re-initializes
	p2, err := rt2.Load(path, "qwen2.5:0.5b", 8)
	if err != nil {
		t.Fatalf("load after re-init: %v", err)
	}
	if _, err := p2.Predict(context.Background(), make([]float32, 8)); err != nil {
		t.Errorf("predict after re-init: %v", err)
	}
	if err := p2.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

func TestProbePredictConcurrentAndErrors(t *testing.T) {
	rt := runtimeFor(t)
	m := randomLogistic(12, 64)
	p, err := rt.Load(writeProbe(t, m, testMeta()), "qwen2.5:0.5b", 64)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if meta := p.Meta(); meta.FeatureKind != FeatureAnswer || meta.Threshold == nil || *meta.Threshold != 0 {
		t.Errorf("meta %+v", meta)
	}

	inputs := randomFeatures(13, 64, 64)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				x := inputs[(g*31+i)%len(inputs)]
				got, err := p.Predict(context.Background(), x)
				if err != nil {
					errs <- err
					return
				}
				want, _ := m.Predict(to64(x))
				if math.Abs(got-want) > 1e-5 {
					errs <- errors.New("concurrent predictions disagree with Go math")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Predict(ctx, inputs[0]); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: err = %v", err)
	}
	if _, err := p.Predict(context.Background(), inputs[0][:10]); !errors.Is(err, ErrBadInput) {
		t.Errorf("short features: err = %v, want ErrBadInput", err)
	}
	nan := append([]float32(nil), inputs[0]...)
	nan[5] = float32(math.NaN())
	if _, err := p.Predict(context.Background(), nan); !errors.Is(err, ErrBadInput) {
		t.Errorf("NaN feature: err = %v, want ErrBadInput", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Predict(context.Background(), inputs[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("after close: err = %v, want ErrClosed", err)
	}
}

// benchDims returns the feature sizes BenchmarkProbePredict runs: 64 (the
// hidden-state size of the test-bed models), or the comma-separated list in
// $EDGECASCADE_PROBE_BENCH_DIMS (e.g. "64,896,2048").
func benchDims(b *testing.B) []int {
	env := os.Getenv("EDGECASCADE_PROBE_BENCH_DIMS")
	if env == "" {
		return []int{64}
	}
	var dims []int
	for _, f := range strings.Split(env, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			b.Fatalf("EDGECASCADE_PROBE_BENCH_DIMS=%q: want sizes > 0 separated by commas", env)
		}
		dims = append(dims, d)
	}
	return dims
}

// BenchmarkProbePredict measures one request's probe inference through
// onnxruntime (Probe.Predict) and, for comparison, the same model in pure Go
// (Logistic.Predict), for each feature size of benchDims.
func BenchmarkProbePredict(b *testing.B) {
	for _, d := range benchDims(b) {
		m := randomLogistic(14, d)
		x := randomFeatures(15, 1, d)[0]
		b.Run("onnxruntime/D="+strconv.Itoa(d), func(b *testing.B) {
			rt := runtimeFor(b)
			p, err := rt.Load(writeProbe(b, m, testMeta()), "qwen2.5:0.5b", d)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Predict(ctx, x); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("go/D="+strconv.Itoa(d), func(b *testing.B) {
			x64 := to64(x)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Predict(x64); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
