package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// drainCloud is an OpenAI-compatible cloud for tests where the real one
// cannot run (a paid API). It follows the documented Chat Completions wire
// format (POST /v1/chat/completions → chat.completion object with choices,
// message, finish_reason, usage; GET /v1/models → list), answers "answer to:
// <last user message>" after a delay, counts the calls per question, and
// can play unreachable (connections closed without an answer).
type drainCloud struct {
	*httptest.Server
	down  atomic.Bool
	delay atomic.Int64 // nanoseconds
	// received, when set, is told of each chat call as it arrives.
	received chan string

	mu    sync.Mutex
	calls map[string]int
}

func newDrainCloud(t *testing.T, delay time.Duration) *drainCloud {
	t.Helper()
	f := &drainCloud{calls: map[string]int{}}
	f.delay.Store(int64(delay))
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *drainCloud) serve(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	switch r.URL.Path {
	case "/v1/models":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"object":"list","data":[{"id":"fake-strong","object":"model","created":0,"owned_by":"test"}]}`)
		return
	case "/v1/chat/completions":
	default:
		http.NotFound(w, r)
		return
	}
	var req struct {
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
		http.Error(w, `{"error":{"message":"bad request","type":"invalid_request_error"}}`, 400)
		return
	}
	q := req.Messages[len(req.Messages)-1].Content
	f.mu.Lock()
	f.calls[q]++
	f.mu.Unlock()
	if f.received != nil {
		f.received <- q
	}
	select {
	case <-time.After(time.Duration(f.delay.Load())):
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/json")
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion", "created": time.Now().Unix(), "model": "fake-strong",
		"choices": []map[string]any{{"index": 0, "message": map[string]any{"role": "assistant", "content": "answer to: " + q}, "finish_reason": "stop"}},
		"usage":   map[string]int{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
	})
	_, _ = w.Write(b)
}

func (f *drainCloud) callsOf(q string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[q]
}

type deferredView struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	Answer   *struct {
		Content string `json:"content"`
	} `json:"answer"`
}

func getDeferred(t *testing.T, url, id string) deferredView {
	t.Helper()
	resp, err := http.Get(url + "/v1/cascade/deferred/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v deferredView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET deferred %s: %d %v", id, resp.StatusCode, err)
	}
	return v
}

// TestOutboxDataDirErrors: a data directory that cannot be written is a
// clear error at start, naming the path and the fix.
func TestOutboxDataDirErrors(t *testing.T) {
	s := needBed(t)
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := bedEnv(s)
	env["EDGECASCADE_DATA_DIR"] = filepath.Join(file, "data")
	_, _, err := run(t, env, "serve", "--listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "writable") {
		t.Fatalf("serve with an unusable data dir: %v", err)
	}
	// A second daemon on the same data dir is refused, not corrupted.
	env["EDGECASCADE_DATA_DIR"] = t.TempDir()
	startServe(t, env)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, _, err = run(t, env, "serve", "--listen", addr)
	if err == nil || !strings.Contains(err.Error(), "locked by another edgecascade process") {
		t.Fatalf("second daemon on one data dir: %v", err)
	}
}
