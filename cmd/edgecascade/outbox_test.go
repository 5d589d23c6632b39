package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
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
	delay time.Duration
	// received, when set, is told of each chat call as it arrives.
	received chan string

	mu    sync.Mutex
	calls map[string]int
}

func newDrainCloud(t *testing.T, delay time.Duration) *drainCloud {
	t.Helper()
	f := &drainCloud{delay: delay, calls: map[string]int{}}
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
	case <-time.After(f.delay):
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

// TestOutboxSurvivesKill9: escalations deferred while the cloud is down are
// drained when it comes back; the daemon is killed with SIGKILL while an
// item is on the wire, and after a restart every item is answered, each
// exactly once in the outbox, and only the item that was on the wire is
// sent a second time.
func TestOutboxSurvivesKill9(t *testing.T) {
	s := needBed(t)
	cloud := newDrainCloud(t, 300*time.Millisecond)
	cloud.down.Store(true)
	dataDir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte(`
cloud:
  base_url: "`+cloud.URL+`/v1"
  model: fake-strong
  max_retries: 0
  breaker: {failures: 1, probe_interval: 100ms, max_probe_interval: 500ms}
cascade:
  threshold: 1.01
outbox:
  drain_rate: 5
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"EDGECASCADE_LOCAL_URL": s.URL, "EDGECASCADE_LOCAL_MODEL": ollamatest.Weak,
		"EDGECASCADE_DATA_DIR": dataDir, "OPENAI_API_KEY": "sk-test"}
	a := startServe(t, env, "--config", cfg)

	const n = 8
	ids := map[string]string{} // id → question
	for i := range n {
		q := fmt.Sprintf("What is %d plus %d?", i, i+1)
		resp, err := http.Post(a.url+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"auto","temperature":0,"max_tokens":16,"messages":[{"role":"user","content":"`+q+`"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var c struct {
			Cascade struct {
				Route      string `json:"route"`
				Deferred   bool   `json:"deferred"`
				DeferredID string `json:"deferred_id"`
			} `json:"cascade"`
		}
		if err := json.Unmarshal(raw, &c); err != nil || resp.StatusCode != 200 || !c.Cascade.Deferred || c.Cascade.Route != "local" {
			t.Fatalf("request %d while the cloud is down: %d %s", i, resp.StatusCode, raw)
		}
		ids[c.Cascade.DeferredID] = q
	}

	// The cloud comes back; kill -9 the daemon while the third item is on
	// the wire.
	cloud.received = make(chan string, 2*n)
	cloud.down.Store(false)
	var inFlight string
	for k := 0; k < 3; k++ {
		select {
		case inFlight = <-cloud.received:
		case <-time.After(2 * time.Minute):
			t.Fatalf("the drain sent %d items in 2 minutes: %s", k, a.logs)
		}
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Wait()

	b := startServe(t, env, "--config", cfg)
	deadline := time.Now().Add(3 * time.Minute)
	for id, q := range ids {
		for {
			v := getDeferred(t, b.url, id)
			if v.State == "done" {
				if v.Answer == nil || v.Answer.Content != "answer to: "+q {
					t.Fatalf("%s (%q) answered %+v", id, q, v.Answer)
				}
				want := 1
				if q == inFlight {
					want = 2
				}
				if v.Attempts != want {
					t.Errorf("%s (%q): %d attempts, want %d", id, q, v.Attempts, want)
				}
				break
			}
			if v.State == "failed" || time.Now().After(deadline) {
				t.Fatalf("%s (%q) is %s after the restart: %s", id, q, v.State, b.logs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Only the item on the wire at the kill went out twice; none was lost.
	for _, q := range ids {
		want := 1
		if q == inFlight {
			want = 2
		}
		if got := cloud.callsOf(q); got != want {
			t.Errorf("%q was sent %d times, want %d", q, got, want)
		}
	}
	if !strings.Contains(b.logs.String(), "queued again") {
		t.Errorf("the restart did not say it requeued the interrupted item:\n%s", b.logs)
	}
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
