package httpapi_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

// bed is one real `ollama serve` with the test bed's weak (local) and strong
// ("cloud", through Ollama's OpenAI-compatible /v1) models, and the weak
// model with a template that renders tools (tools_real_test.go), shared by
// the package's tests. Nil when the ollama binary is absent.
var (
	bed       *ollamatest.Server
	bedReason error
)

func TestMain(m *testing.M) {
	if _, err := ollamatest.FindBinary(); err != nil {
		bedReason = err
		os.Exit(m.Run())
	}
	s, cleanup, err := ollamatest.StartTemp(ollamatest.Weak, ollamatest.Strong, ollamatest.SelfRef, ollamatest.WeakTools)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start ollama:", err)
		cleanup()
		os.Exit(1)
	}
	bed = s
	code := m.Run()
	cleanup()
	os.Exit(code)
}

func needBed(t *testing.T) *ollamatest.Server {
	t.Helper()
	if bed == nil {
		t.Skipf("skipping integration test: %v", bedReason)
	}
	return bed
}
