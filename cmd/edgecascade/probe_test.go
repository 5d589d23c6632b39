package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
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
	"github.com/edgecascade/edgecascade/uq"
	"github.com/edgecascade/edgecascade/uq/calib"
	"github.com/edgecascade/edgecascade/uq/labelled"
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
		meta.Extra[extraDataHash] != hex.EncodeToString(sum[:]) || meta.Extra[extraFeatureSource] != "ollama /api/embed (L2-normalized)" {
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

func TestProbeHoldoutSplit(t *testing.T) {
	n, held := 20000, 0
	for i := range n {
		p := fmt.Sprintf("What is %d + %d?", i, i%7)
		h := heldOut(p, 0.3)
		if h != heldOut(p, 0.3) {
			t.Fatal("split is not deterministic")
		}
		if h && !heldOut(p, 0.5) {
			t.Fatal("held out at 0.3 but not at 0.5")
		}
		if h {
			held++
		}
	}
	if share := float64(held) / float64(n); math.Abs(share-0.3) > 0.015 {
		t.Fatalf("held-out share %.3f, want about 0.3", share)
	}
}

func TestProbePregenThreshold(t *testing.T) {
	// 200 samples: p(local right) = i/200; right iff i >= 60, except every
	// 10th from 20 to 59, so the low end is mostly wrong.
	var samples []calib.Sample
	for i := range 200 {
		samples = append(samples, calib.Sample{Score: float64(i) / 200, Correct: i >= 60 || (i >= 20 && i%10 == 5)})
	}
	var ev probeEval
	th, err := pregenThreshold(samples, 0.8, 0.1, &ev)
	if err != nil || th == nil {
		t.Fatalf("threshold %v, %v (%v)", th, err, ev.thresholdErr)
	}
	skipped, wrong := 0, 0
	for _, s := range samples {
		if s.Score <= *th {
			skipped++
			if !s.Correct {
				wrong++
			}
		}
	}
	if skipped != ev.thresholdResult.Accepted || skipped == 0 || float64(wrong)/float64(skipped) < 0.8 {
		t.Fatalf("threshold %v skips %d (%d wrong), result %+v", *th, skipped, wrong, ev.thresholdResult)
	}
	if !slices.ContainsFunc(samples, func(s calib.Sample) bool { return s.Score == *th }) {
		t.Fatalf("threshold %v is not a held-out probability", *th)
	}
	if !strings.Contains(ev.thresholdGuaranteed, "at least 80% of the queries this probe skips") {
		t.Fatalf("guarantee: %s", ev.thresholdGuaranteed)
	}

	// Right answers among the lowest p: no threshold, and why.
	mixed := slices.Clone(samples)
	for i := range 40 {
		mixed[i].Correct = i%3 == 0
	}
	ev = probeEval{}
	th, err = pregenThreshold(mixed, 0.9, 0.1, &ev)
	if err != nil || th != nil || ev.thresholdErr == nil || !strings.Contains(ev.thresholdErr.Error(), "the local model got right") {
		t.Fatalf("mixed low end: threshold %v, err %v, reason %v", th, err, ev.thresholdErr)
	}
	t.Log(ev.thresholdErr)

	// Too few samples: no threshold, and the reason.
	ev = probeEval{}
	th, err = pregenThreshold(samples[:10], 0.9, 0.1, &ev)
	if err != nil || th != nil || ev.thresholdErr == nil || !strings.Contains(ev.thresholdErr.Error(), "certify") {
		t.Fatalf("10 samples: threshold %v, err %v, reason %v", th, err, ev.thresholdErr)
	}
}

// TestProbeFitPregen fits a pre-generation probe on synthetic features whose
// first value separates right from wrong, and checks the file it gives:
// the training-part fit with a certified threshold and its guarantee.
func TestProbeFitPregen(t *testing.T) {
	ds := &probeData{}
	for i := range 1000 {
		right := i%5 < 3
		x := make([]float32, 8)
		for j := range x {
			x[j] = float32(math.Sin(float64(i * (j + 3)))) // deterministic noise
		}
		if right {
			x[0] += 2.5
		}
		ds.X = append(ds.X, x)
		ds.y = append(ds.y, right)
		ds.prompts = append(ds.prompts, fmt.Sprintf("prompt %d", i))
	}
	ds.items = len(ds.X)
	f := &probeTrainFlags{pregen: true, holdout: 0.3, targetWrong: 0.9, delta: 0.1, l2: 0.01}
	res, err := fitProbe(ds, f)
	if err != nil {
		t.Fatal(err)
	}
	ev := res.eval
	if res.meta.Threshold == nil {
		t.Fatalf("no threshold: %v", ev.thresholdErr)
	}
	if ev.test+ev.train != 1000 || ev.test < 250 || ev.test > 350 || res.meta.Examples != ev.train || *ev.auroc < 0.9 {
		t.Fatalf("split %d/%d, examples %d, auroc %v", ev.train, ev.test, res.meta.Examples, *ev.auroc)
	}
	if res.meta.FeatureKind != probe.FeaturePrompt || res.meta.FeatureSize != 8 || !strings.Contains(res.meta.Extra[extraThresholdNote], "at least 90% of the queries this probe skips") {
		t.Fatalf("meta: %+v", res.meta)
	}
	res.meta.Model = "m"
	path := filepath.Join(t.TempDir(), "pregen.onnx")
	if err := writeProbeFile(path, res.model, res.meta); err != nil {
		t.Fatal(err)
	}
	meta, err := probe.ReadMeta(path)
	if err != nil || meta.Threshold == nil || *meta.Threshold != *res.meta.Threshold {
		t.Fatalf("read back: %+v, %v", meta, err)
	}

	// An answer probe is refitted on all items and has no threshold.
	f.pregen = false
	res, err = fitProbe(ds, f)
	if err != nil || res.meta.Threshold != nil || res.meta.Examples != 1000 || res.meta.FeatureKind != probe.FeatureAnswer {
		t.Fatalf("answer probe: %+v, %v", res.meta, err)
	}

	// One class only: a clear error.
	for i := range ds.y {
		ds.y[i] = false
	}
	if _, err := fitProbe(ds, f); err == nil || !strings.Contains(err.Error(), "all 1000 local answers are wrong") {
		t.Fatalf("one class: %v", err)
	}
}

// fakeFeatures renders "<prompt>|" and returns two features per text; it
// rejects texts containing "reject" as a backend rejects a text longer than
// its context.
type fakeFeatures struct {
	models.Model // only Name is used
	calls        int
}

func (f *fakeFeatures) Name() string { return "fake:1b" }

func (f *fakeFeatures) Render(_ context.Context, msgs []models.Message) (string, error) {
	return msgs[0].Content + "|", nil
}

func (f *fakeFeatures) Features(_ context.Context, text string) ([]float32, error) {
	f.calls++
	if strings.Contains(text, "reject") {
		return nil, &models.Error{Backend: "fake", Model: "fake:1b", Kind: models.ErrBadRequest, Err: fmt.Errorf("input too long")}
	}
	return []float32{float32(len(text)), 1}, nil
}

func TestProbeCollectFeaturesCachesAndSkipsRejected(t *testing.T) {
	fx := &fakeFeatures{}
	run := &dataRun{local: fx, digest: "sha256:abc"}
	f := &probeTrainFlags{df: dataFlags{cacheDir: t.TempDir()}}
	var recs []labelled.Record
	for i, p := range []string{"a", "bb", "reject me", "ccc", "dddd"} {
		recs = append(recs, labelled.Record{Index: i, Prompt: p, LocalRawAnswer: "ans", LocalCorrect: i%2 == 0})
	}
	a := &app{stdout: io.Discard, stderr: io.Discard}
	ctx := context.Background()
	ds, err := a.collectFeatures(ctx, fx, "fake", run, recs, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.X) != 4 || ds.skipped != 1 || ds.skipErr == nil || ds.X[1][0] != float32(len("bb|ans")) || !slices.Equal(ds.prompts, []string{"a", "bb", "ccc", "dddd"}) {
		t.Fatalf("features %v, skipped %d (%v), prompts %v", ds.X, ds.skipped, ds.skipErr, ds.prompts)
	}
	// Again: only the rejected text is asked for; the pre-generation kind has
	// its own cache and reads the prompt alone.
	fx.calls = 0
	if _, err := a.collectFeatures(ctx, fx, "fake", run, recs, f); err != nil || fx.calls != 1 {
		t.Fatalf("second pass: %d calls, %v", fx.calls, err)
	}
	f.pregen = true
	ds, err = a.collectFeatures(ctx, fx, "fake", run, recs, f)
	if err != nil || fx.calls != 1+5 || ds.X[1][0] != float32(len("bb|")) {
		t.Fatalf("pregen: %d calls, %v, %v", fx.calls, ds.X, err)
	}

	// A backend that rejects every text stops early with its error.
	var bad []labelled.Record
	for i := range 20 {
		bad = append(bad, labelled.Record{Index: i, Prompt: fmt.Sprintf("reject %d", i)})
	}
	fx.calls = 0
	_, err = a.collectFeatures(ctx, fx, "fake", run, bad, f)
	if err == nil || !strings.Contains(err.Error(), "input too long") || fx.calls != maxRejectedFirst {
		t.Fatalf("all rejected: %d calls, %v", fx.calls, err)
	}
}
