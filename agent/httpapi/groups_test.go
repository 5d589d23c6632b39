package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/edgecascade/edgecascade/agent/httpapi"
)

// fakeGrouper names the group "cluster-1" for every text, or fails.
type fakeGrouper struct {
	mu    sync.Mutex
	texts []string
	err   error
}

func (g *fakeGrouper) Group(_ context.Context, text string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.texts = append(g.texts, text)
	if g.err != nil {
		return "", g.err
	}
	return "cluster-1", nil
}

func (g *fakeGrouper) calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.texts...)
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAutoGroup: a request of policy auto without a group gets the
// Grouper's group from its last user message (both APIs); an explicit group
// wins and other policies are not embedded; a failing embed leaves the
// request without a group (the global threshold), answered, and logged.
func TestAutoGroup(t *testing.T) {
	g := &fakeGrouper{}
	logs := &syncBuffer{}
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, log: slog.New(slog.NewTextHandler(logs, nil)),
		server: func(sc *httpapi.ServerConfig) { sc.Grouper = g }})
	groupOfReply := func(model, header string, body map[string]any) string {
		t.Helper()
		buf, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", d.URL+"/v1/chat/completions", bytes.NewReader(buf))
		req.Header.Set("Content-Type", "application/json")
		if header != "" {
			req.Header.Set("X-Cascade-Group", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var c struct {
			Cascade struct {
				Group string `json:"group"`
			} `json:"cascade"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: status %d %v", model, resp.StatusCode, err)
		}
		return c.Cascade.Group
	}
	body := chatBody("auto", "what is 2+2?", false)
	body["messages"] = []map[string]any{{"role": "system", "content": "be brief"}, {"role": "user", "content": "first"},
		{"role": "assistant", "content": "ok"}, {"role": "user", "content": "what is 2+2?"}}
	if got := groupOfReply("auto", "", body); got != "cluster-1" {
		t.Fatalf("auto without a group: %q", got)
	}
	if c := g.calls(); len(c) != 1 || c[0] != "what is 2+2?" {
		t.Fatalf("embedded %q, want the last user message once", c)
	}
	if got := groupOfReply("auto", "capitals", chatBody("auto", "hi", false)); got != "capitals" {
		t.Fatalf("explicit header: %q", got)
	}
	b := chatBody("auto", "hi", false)
	b["cascade"] = map[string]any{"group": "arith"}
	if got := groupOfReply("auto", "", b); got != "arith" {
		t.Fatalf("explicit body: %q", got)
	}
	if got := groupOfReply("local", "", chatBody("local", "hi", false)); got != "" {
		t.Fatalf("policy local: %q", got)
	}
	if n := len(g.calls()); n != 1 {
		t.Fatalf("%d embed calls, want 1 (explicit groups and policy local need none)", n)
	}

	// The Ollama API.
	r, raw := post(t, d.URL+"/api/chat", map[string]any{"model": "auto", "stream": false, "messages": []map[string]any{{"role": "user", "content": "capital?"}}})
	var oc struct {
		Cascade struct {
			Group string `json:"group"`
		} `json:"cascade"`
	}
	if err := json.Unmarshal(raw, &oc); err != nil || r.StatusCode != 200 || oc.Cascade.Group != "cluster-1" {
		t.Fatalf("ollama chat: %d %s", r.StatusCode, raw)
	}

	// A legacy completion: its prompt is embedded.
	r, raw = post(t, d.URL+"/v1/completions", map[string]any{"model": "auto", "prompt": "what is 3+3?"})
	if err := json.Unmarshal(raw, &oc); err != nil || r.StatusCode != 200 || oc.Cascade.Group != "cluster-1" {
		t.Fatalf("completion: %d %s", r.StatusCode, raw)
	}
	if c := g.calls(); c[len(c)-1] != "what is 3+3?" {
		t.Fatalf("embedded %q, want the completion's prompt last", c)
	}

	// The embed call fails: answered, no group, logged.
	g.mu.Lock()
	g.err = errors.New("backend down")
	g.mu.Unlock()
	if got := groupOfReply("auto", "", chatBody("auto", "hi", false)); got != "" {
		t.Fatalf("failed embed: group %q", got)
	}
	if l := logs.String(); !strings.Contains(l, "global threshold") || !strings.Contains(l, "backend down") {
		t.Fatalf("log says nothing of the failed embed:\n%s", l)
	}
}
