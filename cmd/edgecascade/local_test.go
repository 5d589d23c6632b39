package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/models/llamacpp/llamacpptest"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

// llamaServer is the shared fake llama-server (llama.cpp's server cannot be
// built here) answering in llama-server's documented shapes: POST
// /v1/chat/completions (tools/server/server-task.cpp,
// to_json_oaicompat_chat: choices[0].message, logprobs.content with
// top_logprobs, usage, timings), GET /health ({"status":"ok"}, README.md) and
// GET /props (default_generation_settings.n_ctx, README.md).
func llamaServer(t *testing.T) *llamacpptest.Server {
	return llamacpptest.New(t, map[string]llamacpptest.Route{
		"POST /v1/chat/completions": {Status: 200, Body: `{"choices":[{"finish_reason":"stop","index":0,"message":{"role":"assistant","content":"Tupel"},
 "logprobs":{"content":[
  {"id":84,"token":"Tu","bytes":[84,117],"logprob":-0.01,"top_logprobs":[{"id":84,"token":"Tu","bytes":[84,117],"logprob":-0.01}]},
  {"id":85,"token":"pel","bytes":[112,101,108],"logprob":-0.02,"top_logprobs":[{"id":85,"token":"pel","bytes":[112,101,108],"logprob":-0.02}]},
  {"id":259,"token":"","bytes":[],"logprob":-0.001,"top_logprobs":[{"id":259,"token":"","bytes":[],"logprob":-0.001}]}]}}],
 "created":1757141666,"model":"tiny","object":"chat.completion","usage":{"completion_tokens":3,"prompt_tokens":20,"total_tokens":23},
 "id":"chatcmpl-1","timings":{"cache_n":0,"prompt_n":20,"prompt_ms":1.5,"predicted_n":3,"predicted_ms":2.5}}`},
		"GET /health": {Status: 200, Body: `{"status": "ok" }`},
		"GET /props":  {Status: 200, Body: `{"default_generation_settings":{"n_ctx":256},"total_slots":1,"chat_template":"<|im_start|>..."}`},
	})
}

func TestLocalBackendLlamaServer(t *testing.T) {
	s := llamaServer(t)
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
	got := s.Bodies(t, "POST /v1/chat/completions")
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
