package httpapi_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
	"github.com/edgecascade/edgecascade/probe"
)

func TestPromptOverLocalContextGoesToCloud(t *testing.T) {
	d := newDaemon(t, daemonOpts{threshold: 0, context: true})
	long := "Spell " + strings.Repeat("abcdefghij", 30) + " backwards." // > 256 byte-level tokens
	resp, c := ask(t, d, "auto", long)
	if resp.StatusCode != http.StatusOK || c.Cascade.Route != "cloud" || !strings.Contains(c.Cascade.Reason, "local context holds 256") {
		t.Fatalf("status %d cascade %+v", resp.StatusCode, c.Cascade)
	}
	if sr := streamChat(t, d, "auto", long); sr.status != http.StatusOK || sr.cascade.Route != "cloud" {
		t.Fatalf("stream: %+v", sr)
	}
	resp, c = ask(t, d, "local", long)
	if resp.StatusCode != http.StatusBadRequest || c.Error == nil || c.Error.Code != "context_length_exceeded" {
		t.Fatalf("local: status %d error %+v", resp.StatusCode, c.Error)
	}
	// A prompt that fits stays local (threshold 0).
	if _, c := ask(t, d, "auto", easyQuestion); c.Cascade.Route != "local" {
		t.Fatalf("short prompt: %+v", c.Cascade)
	}
	if n := d.cloudCalls(); n != 2 {
		t.Fatalf("cloud calls %d, want 2", n)
	}
}

var (
	ortOnce sync.Once
	ort     *probe.Runtime
	ortErr  error
)

// onnxRuntime is the process's one onnxruntime environment.
func onnxRuntime(t *testing.T) *probe.Runtime {
	t.Helper()
	lib := os.Getenv("EDGECASCADE_ONNXRUNTIME_LIB")
	if lib == "" {
		t.Skip("skipping: EDGECASCADE_ONNXRUNTIME_LIB is not set (scripts/test.sh sets it)")
	}
	ortOnce.Do(func() { ort, ortErr = probe.NewRuntime(lib) })
	if ortErr != nil {
		t.Fatal(ortErr)
	}
	return ort
}

// constantProbe writes a real ONNX prompt probe for the weak model whose
// output is sigmoid(bias) whatever the hidden state.
func constantProbe(t *testing.T, dim int, bias float64) string {
	t.Helper()
	var buf bytes.Buffer
	m := &probe.Logistic{Weights: make([]float64, dim), Bias: bias}
	if err := probe.WriteONNX(&buf, m, probe.Meta{Model: ollamatest.Weak, FeatureSize: dim, FeatureKind: probe.FeaturePrompt, TrainedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "pregen.onnx")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPregenProbeSkipsHopelessQueries(t *testing.T) {
	rt := onnxRuntime(t)
	const dim = 128 // the test bed models' hidden size
	for _, tc := range []struct {
		name  string
		bias  float64 // p = sigmoid(bias)
		route string
	}{
		{"confidently negative: skip local", -6, "cloud"},
		{"positive: generate locally", 6, "local"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := rt.Load(constantProbe(t, dim, tc.bias), ollamatest.Weak, dim)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			d := newDaemon(t, daemonOpts{threshold: 0, pregen: &cascade.Pregen{Predictor: p, Threshold: 0.1}})
			_, c := ask(t, d, "auto", easyQuestion)
			if c.Cascade.Route != tc.route {
				t.Fatalf("route %s, want %s (%s)", c.Cascade.Route, tc.route, c.Cascade.Reason)
			}
			if tc.route == "cloud" && (!strings.Contains(c.Cascade.Reason, "pre-generation probe") || c.Cascade.Confidence != nil) {
				t.Fatalf("reason %q, confidence %v: the local model must not have run", c.Cascade.Reason, c.Cascade.Confidence)
			}
			// Policy local ignores the pre-generation probe.
			if _, c := ask(t, d, "local", easyQuestion); c.Cascade.Route != "local" {
				t.Fatalf("policy local routed %s", c.Cascade.Route)
			}
		})
	}
}

func TestCloudUsageEstimatedWhenNotReported(t *testing.T) {
	d := newDaemon(t, daemonOpts{threshold: 1.01, context: true})
	_, c := ask(t, d, "auto", easyQuestion)
	reported := c.Usage.TotalTokens
	if c.Cascade.Route != "cloud" || reported == 0 {
		t.Fatalf("cascade %+v usage %+v", c.Cascade, c.Usage)
	}
	// The same cloud with the usage field removed from its answers (a server
	// that does not report usage): the daemon estimates it with the local
	// tokenizer. The test bed tokenizer is the strong model's too, so the
	// estimate must match what the server reported but for the end-of-turn
	// token, which the server counts and the answer text does not show.
	d.cloud.dropUsage.Store(true)
	_, c = ask(t, d, "auto", easyQuestion)
	if diff := reported - c.Usage.TotalTokens; diff < 0 || diff > 1 {
		t.Fatalf("estimated usage %+v, the server reported %d", c.Usage, reported)
	}
}
