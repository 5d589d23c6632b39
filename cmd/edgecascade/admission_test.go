package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// gate is a reverse proxy in front of the real Ollama that holds /api/chat
// calls while closed: a generation that takes as long as the test wants,
// so that "busy" does not depend on timing.
type gate struct {
	*httptest.Server
	mu     sync.Mutex
	closed chan struct{} // nil when open
}

func newGate(t *testing.T, target string) *gate {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{}
	rp := httputil.NewSingleHostReverseProxy(u)
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		wait := g.closed
		g.mu.Unlock()
		if wait != nil && r.URL.Path == "/api/chat" {
			select {
			case <-wait:
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(g.Close)
	t.Cleanup(g.open) // before Close: never leave a held call behind
	return g
}

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed == nil {
		g.closed = make(chan struct{})
	}
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed != nil {
		close(g.closed)
		g.closed = nil
	}
}

func scrapeMetric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` ([0-9.e+-]+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no metric %s", name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestServeBoundsTheLocalQueue runs the real binary against the real Ollama
// with local.max_concurrent 1 and local.max_queue 0: while one local
// generation runs, the next local request gets 503 with Retry-After, and
// the running one completes.
func TestServeBoundsTheLocalQueue(t *testing.T) {
	_, _, err := run(t, nil, "config", "--local.max_concurrent", "0")
	if err == nil || !strings.Contains(err.Error(), "local.max_concurrent") {
		t.Fatalf("local.max_concurrent 0: %v", err)
	}
	_, _, err = run(t, nil, "config", "--local.max_queue", "-1")
	if err == nil || !strings.Contains(err.Error(), "local.max_queue") {
		t.Fatalf("local.max_queue -1: %v", err)
	}

	s := needBed(t)
	g := newGate(t, s.URL)
	env := bedEnv(s)
	env["EDGECASCADE_LOCAL_URL"] = g.URL
	d := startServe(t, env, "--local.max_concurrent", "1", "--local.max_queue", "0")
	body := `{"model":"local","temperature":0,"max_tokens":16,"messages":[{"role":"user","content":"Spell rmzf backwards."}]}`

	g.close()
	first := make(chan error, 1)
	go func() {
		resp, err := http.Post(d.url+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			first <- err
			return
		}
		defer resp.Body.Close()
		var c struct {
			Choices []struct{ Message struct{ Content string } }
		}
		raw, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(raw, &c); err != nil || resp.StatusCode != http.StatusOK || len(c.Choices) != 1 || c.Choices[0].Message.Content == "" {
			first <- &gateError{resp.StatusCode, string(raw)}
			return
		}
		first <- nil
	}()
	waitFor(t, func() bool { return scrapeMetric(t, d.url, "edgecascade_local_in_flight") == 1 })

	resp, err := http.Post(d.url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(raw), `"local_busy"`) {
		t.Fatalf("second request: %d %s, want 503 local_busy", resp.StatusCode, raw)
	}
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}

	g.open()
	if err := <-first; err != nil {
		t.Fatalf("the running request: %v", err)
	}
	if v := scrapeMetric(t, d.url, "edgecascade_local_rejected_total"); v != 1 {
		t.Fatalf("rejected counter %v, want 1", v)
	}
	if v := scrapeMetric(t, d.url, "edgecascade_local_in_flight"); v != 0 {
		t.Fatalf("in flight %v after the answer, want 0", v)
	}
}

type gateError struct {
	status int
	body   string
}

func (e *gateError) Error() string { return strconv.Itoa(e.status) + ": " + e.body }
