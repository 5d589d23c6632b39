package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

// llamaServerFake stands in for llama.cpp's llama-server, which cannot be
// built here. It answers POST /v1/chat/completions in llama-server's
// documented shape (tools/server/server-task.cpp,
// to_json_oaicompat_chat: choices[0].message, logprobs.content with
// top_logprobs, usage, timings), GET /health ({"status":"ok"}, README.md)
// and GET /props (default_generation_settings.n_ctx, README.md), and keeps
// the chat request bodies it got.
func llamaServerFake(t *testing.T) (*httptest.Server, func() []map[string]any) {
	t.Helper()
	var mu sync.Mutex
	var bodies []map[string]any
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, `{"choices":[{"finish_reason":"stop","index":0,"message":{"role":"assistant","content":"Tupel"},
 "logprobs":{"content":[
  {"id":84,"token":"Tu","bytes":[84,117],"logprob":-0.01,"top_logprobs":[{"id":84,"token":"Tu","bytes":[84,117],"logprob":-0.01}]},
  {"id":85,"token":"pel","bytes":[112,101,108],"logprob":-0.02,"top_logprobs":[{"id":85,"token":"pel","bytes":[112,101,108],"logprob":-0.02}]},
  {"id":259,"token":"","bytes":[],"logprob":-0.001,"top_logprobs":[{"id":259,"token":"","bytes":[],"logprob":-0.001}]}]}}],
 "created":1757141666,"model":"tiny","object":"chat.completion","usage":{"completion_tokens":3,"prompt_tokens":20,"total_tokens":23},
 "id":"chatcmpl-1","timings":{"cache_n":0,"prompt_n":20,"prompt_ms":1.5,"predicted_n":3,"predicted_ms":2.5}}`)
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"status": "ok" }`)
	})
	mux.HandleFunc("GET /props", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"default_generation_settings":{"n_ctx":256},"total_slots":1,"chat_template":"<|im_start|>..."}`)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s, func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return append([]map[string]any(nil), bodies...)
	}
}

func TestLocalBackendLlamaServer(t *testing.T) {
	s, bodies := llamaServerFake(t)
	env := map[string]string{
		"EDGECASCADE_LOCAL_BACKEND":  "llamacpp-server",
		"EDGECASCADE_LOCAL_URL":      s.URL,
		"EDGECASCADE_LOCAL_MODEL":    "tiny",
		"EDGECASCADE_CLOUD_BASE_URL": s.URL + "/v1", // not called under policy local
	}
	out, _, err := run(t, env, "ask", "--policy", "local", "What is the capital of Osninax?")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "Tupel\n") || !strings.Contains(out, "route: local") {
		t.Fatalf("ask output:\n%s", out)
	}
	got := bodies()
	if len(got) != 1 {
		t.Fatalf("llama-server got %d chat requests, want 1", len(got))
	}
	if got[0]["model"] != "tiny" || got[0]["logprobs"] != true {
		t.Errorf("chat request %v: want model tiny and logprobs", got[0])
	}
	msgs, _ := got[0]["messages"].([]any)
	if len(msgs) != 1 || !strings.Contains(toJSON(msgs[0]), "Osninax") {
		t.Errorf("chat request messages %v: want the question", msgs)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func testbedModel(t *testing.T, name string) string {
	t.Helper()
	dir, err := ollamatest.TestbedDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "models", name)
}
