package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/cloud/openai/openaitest"
)

// newDrainCloud is the OpenAI-compatible cloud of the outbox tests
// (openaitest: OpenAI's documented Chat Completions wire format, as the
// real one is a paid API). It answers "answer to: <last message>" and
// counts the calls per question (CallsFor); it starts down, closing every
// connection without an answer, until the test sets another fault.
func newDrainCloud(t *testing.T) *openaitest.Server {
	t.Helper()
	f := openaitest.New(t, openaitest.Config{
		Model:            "fake-strong",
		Answer:           func(r *openaitest.Request) []string { return []string{"answer to: " + r.LastMessage()} },
		PromptTokens:     10,
		CompletionTokens: 5,
	})
	f.Set(openaitest.Fault{Refuse: true})
	return f
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
