package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/ollama"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
	"github.com/edgecascade/edgecascade/probe"
	"github.com/edgecascade/edgecascade/probe/train"
	"github.com/edgecascade/edgecascade/uq"
)

// bedFeatureSize is the hidden size of the test bed models (Qwen2
// architecture, embedding length 128).
const bedFeatureSize = 128

var heldOutAUROC = regexp.MustCompile(`held-out AUROC (\d\.\d+)`)

// TestProbeTrain trains an answer probe and a pre-generation probe on the
// test bed's weak model and checks the files, the held-out evaluation, the
// feature cache, and that onnxruntime computes what the Go probe computes.
func TestProbeTrain(t *testing.T) {
	s := needBed(t)
	env := bedEnv(s)
	dir := t.TempDir()
	data := testbedFile(t, "calib.jsonl")
	args := []string{"probe", "train", "--data", data, "--limit", "400", "--cache-dir", filepath.Join(dir, "cache")}

	// Answer probe. Ctrl-C (a canceled context) during the features keeps
	// those computed so far.
	answerPath := filepath.Join(dir, "answer.onnx")
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	errw := &cancelOn{needle: "probe features: 80/400", cancel: cancel}
	root := newRoot(&out, errw)
	root.SetArgs(append(args, "--out", answerPath))
	if err := root.ExecuteContext(ctx); err == nil || !strings.Contains(err.Error(), "interrupted after the features of 80 of 400 items") {
		t.Fatalf("interrupted run: %v\n%s", err, errw.buf.String())
	}
	if !strings.Contains(errw.buf.String(), "(0 of 400 items cached)") {
		t.Fatalf("first run should start cold:\n%s", errw.buf.String())
	}
	if _, err := os.Stat(answerPath); !os.IsNotExist(err) {
		t.Fatal("an interrupted run wrote a probe")
	}
	stdout, stderr, err := run(t, env, append(args, "--out", answerPath)...)
	if err != nil {
		t.Fatalf("probe train: %v\n%s", err, stderr)
	}
	t.Logf("answer probe:\n%s", stdout)
	// At least the 80 finished items are cached (more when later items
	// repeat a prompt and answer).
	m := regexp.MustCompile(`\((\d+) of 400 cached\)`).FindStringSubmatch(stderr)
	if !strings.Contains(stderr, "(400 of 400 items cached)") || m == nil || !strings.Contains(stderr, "probe features: 400/400") {
		t.Fatalf("second run should continue from the caches and show progress:\n%s", stderr)
	}
	if n, _ := strconv.Atoi(m[1]); n < 80 || n >= 400 {
		t.Fatalf("%d features cached after an interruption at 80 of 400", n)
	}
	meta, err := probe.ReadMeta(answerPath)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if meta.Model != ollamatest.Weak || meta.FeatureKind != probe.FeatureAnswer || meta.FeatureSize != bedFeatureSize ||
		meta.Threshold != nil || meta.Examples != 400 || meta.Positives <= 0 || meta.Positives >= 400 || meta.TrainedAt.IsZero() ||
		meta.Extra[train.ExtraDataHash] != hex.EncodeToString(sum[:]) || meta.Extra[train.ExtraFeatureSource] != "ollama /api/embed (L2-normalized)" {
		t.Fatalf("answer probe meta: %+v", meta)
	}
	answerAUROC := auroc(t, stdout)
	if answerAUROC <= 0.7 {
		t.Fatalf("held-out AUROC of the answer probe %.3f, want > 0.7\n%s", answerAUROC, stdout)
	}
	for _, want := range []string{"wrote " + answerPath, "size 128", "400 with features"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}

	// A re-run is served from both caches and gives the same probe.
	again := filepath.Join(dir, "again.onnx")
	stdout2, stderr, err := run(t, env, append(args, "--out", again)...)
	if err != nil || !strings.Contains(stderr, "(400 of 400 items cached)") || !strings.Contains(stderr, "(400 of 400 cached)") {
		t.Fatalf("re-run should be served from the caches: %v\n%s", err, stderr)
	}
	if auroc(t, stdout2) != answerAUROC {
		t.Errorf("re-run AUROC differs:\n%s\n%s", stdout, stdout2)
	}
	m1, m2 := readProbe(t, answerPath), readProbe(t, again)
	if !slices.Equal(m1.Weights, m2.Weights) || m1.Bias != m2.Bias {
		t.Error("re-run gave another probe")
	}

	// Pre-generation probe on the first 200 items (to save time), from the
	// same answer cache. So few held-out items rarely certify a threshold
	// (TestProbeFitPregen covers a certified one).
	pregenPath := filepath.Join(dir, "pregen.onnx")
	stdout, stderr, err = run(t, env, append(args, "--limit", "200", "--pregen", "--out", pregenPath)...)
	if err != nil {
		t.Fatalf("probe train --pregen: %v\n%s", err, stderr)
	}
	t.Logf("pre-generation probe:\n%s%s", stdout, stderr)
	pm, err := probe.ReadMeta(pregenPath)
	if err != nil {
		t.Fatal(err)
	}
	if pm.Model != ollamatest.Weak || pm.FeatureKind != probe.FeaturePrompt || pm.FeatureSize != bedFeatureSize || pm.Examples >= 200 {
		t.Fatalf("pregen probe meta: %+v", pm)
	}
	auroc(t, stdout)
	if pm.Threshold != nil {
		if *pm.Threshold < 0 || *pm.Threshold > 1 || !strings.Contains(stdout, "With probability at least 90%") ||
			!strings.Contains(stdout, "at least 90% of the queries this probe skips") {
			t.Fatalf("threshold %v without its guarantee:\n%s", *pm.Threshold, stdout)
		}
	} else if !strings.Contains(stderr, "no pre-generation threshold could be certified") || !strings.Contains(stderr, "probe.pregen_threshold") {
		t.Fatalf("no threshold and no clear warning:\n%s\n%s", stdout, stderr)
	}

	// onnxruntime computes what the Go probe computes, on real features.
	t.Run("onnxruntime", func(t *testing.T) {
		lib := os.Getenv("EDGECASCADE_ONNXRUNTIME_LIB")
		if lib == "" {
			t.Skip("EDGECASCADE_ONNXRUNTIME_LIB is not set: skipping the onnxruntime check (scripts/install-onnxruntime.sh prints the library's path)")
		}
		rt, err := probe.NewRuntime(lib)
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close()
		p, err := rt.Load(answerPath, ollamatest.Weak, bedFeatureSize)
		if err != nil {
			t.Fatal(err)
		}
		local, err := ollama.New(ollama.Config{URL: s.URL, Model: ollamatest.Weak})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for _, q := range [][2]string{{"What is the capital of Umyunqua?", "Tenshiten"}, {"What is 3442 - 14?", "3408"}, {"Reverse the word tyadiqj.", "jqidayt"}} {
			text, err := uq.AnswerText(ctx, local, []models.Message{{Role: "user", Content: q[0]}}, q[1])
			if err != nil {
				t.Fatal(err)
			}
			x, err := local.Features(ctx, text)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Predict(ctx, x)
			if err != nil {
				t.Fatal(err)
			}
			want, err := m1.Predict(float64s(x))
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-want) > 1e-5 {
				t.Errorf("%q: onnxruntime %v, Go %v", q[0], got, want)
			}
		}
	})
}

// cancelOn is a writer that calls cancel once the text written contains
// needle.
type cancelOn struct {
	buf    bytes.Buffer
	needle string
	cancel context.CancelFunc
}

func (w *cancelOn) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.needle) {
		w.cancel()
	}
	return n, err
}

func auroc(t *testing.T, stdout string) float64 {
	t.Helper()
	m := heldOutAUROC.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no held-out AUROC in the summary:\n%s", stdout)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readProbe(t *testing.T, path string) *probe.Logistic {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, _, err := probe.ReadONNX(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestProbeTrainBadInput(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data.jsonl")
	if err := os.WriteFile(data, []byte(`{"prompt": "1+1?", "answer": "2"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "p.onnx")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", out}, "--data is required"},
		{[]string{"--data", data, "--out", ""}, "--out is required"},
		{[]string{"--data", data, "--out", out, "--holdout", "1"}, "--holdout"},
		{[]string{"--data", data, "--out", out, "--holdout", "0"}, "--holdout"},
		{[]string{"--data", data, "--out", out, "--pregen", "--target-wrong", "1"}, "--target-wrong"},
		{[]string{"--data", data, "--out", out, "--pregen", "--delta", "0"}, "--delta"},
		{[]string{"--data", data, "--out", out, "--l2", "-1"}, "--l2"},
		{[]string{"--data", data, "--out", out, "--local.backend", "vllm"}, "local.backend"},
	} {
		_, _, err := run(t, nil, append([]string{"probe", "train"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %s", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("a probe file was written for bad input")
	}
}

// noFeatures is a local model without feature extraction.
type noFeatures struct{ models.Model }

func TestProbeTrainNeedsFeatureSource(t *testing.T) {
	_, err := trainFeatureSource(&dataRun{deps: &deps{local: noFeatures{}}}, "llamacpp")
	if err == nil || !strings.Contains(err.Error(), `local.backend "llamacpp"`) {
		t.Fatalf("error %v, want one naming local.backend", err)
	}
	local, err := ollama.New(ollama.Config{URL: "http://127.0.0.1:1", Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trainFeatureSource(&dataRun{deps: &deps{local: local}}, "ollama"); err != nil {
		t.Fatalf("ollama: %v", err)
	}
}

func float64s(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}
