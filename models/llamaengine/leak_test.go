//go:build llamacpp

package llamaengine_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/llamaengine"
)

// rss is this process's resident set size in bytes (/proc/self/statm).
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n * int64(os.Getpagesize())
}

// TestCloseFreesMemory opens, uses and closes engines with a large context
// many times: without freeing the llama.cpp context and model on Close,
// each would keep its KV cache (tens of MB here) resident.
func TestCloseFreesMemory(t *testing.T) {
	path := testbedModel(t, "strong.gguf")
	cycle := func() int64 {
		e, err := llamaengine.Open(context.Background(), llamaengine.Config{Path: path, ChatTemplate: "chatml", ContextSize: 4096})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Chat(context.Background(), models.Request{Messages: reverse, MaxTokens: 2}); err != nil {
			t.Fatal(err)
		}
		open := rss(t)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		return open
	}
	cycle() // warm up allocators and the backend
	base := rss(t)
	footprint := cycle() - base
	for range 10 {
		cycle()
	}
	growth := rss(t) - base
	t.Logf("one open engine: %d KB resident; after 11 open/close cycles: %+d KB", footprint/1024, growth/1024)
	if footprint <= 0 {
		t.Skipf("an open engine added no resident memory (%d KB): nothing to measure", footprint/1024)
	}
	if growth > 3*footprint {
		t.Errorf("resident memory grew by %d KB over 11 open/close cycles of an engine holding %d KB: Close does not free it", growth/1024, footprint/1024)
	}
}
