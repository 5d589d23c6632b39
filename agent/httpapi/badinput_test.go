package httpapi_test

import (
	"strings"
	"testing"
)

// TestBadInputAllRoutes sends the same bad inputs to every chat route: each
// is a 4xx in the route's error shape (OpenAI's on /v1, Ollama's
// {"error": "..."} on /api), never a 500, and none reaches a model.
func TestBadInputAllRoutes(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, maxBody: 4096})
	const (
		v1  = "/v1/chat/completions"
		ach = "/api/chat"
		gen = "/api/generate"
		cmp = "/v1/completions"
	)
	msg := func(model, extra string) string {
		return `{"model":"` + model + `"` + extra + `,"messages":[{"role":"user","content":"hi"}]}`
	}
	prompt := func(model, extra string) string {
		return `{"model":"` + model + `"` + extra + `,"prompt":"hi"}`
	}
	big := strings.Repeat("a", 5000)
	tests := []struct {
		name   string
		bodies map[string]string // by route
		header string            // X-Cascade-Policy
		status int
	}{
		{"too large", map[string]string{
			v1: msg("auto", `,"user":"`+big+`"`), ach: msg("auto", `,"format":"`+big+`"`), gen: prompt("auto", `,"system":"`+big+`"`)}, "", 413},
		{"malformed JSON", map[string]string{v1: `{"model": "auto", "messages": [`, ach: `{"model": "auto", "messages": [`, gen: `{"model": "auto", "prompt": `}, "", 400},
		{"not an object", map[string]string{v1: `[1,2]`, ach: `[1,2]`, gen: `"hi"`}, "", 400},
		{"trailing data", map[string]string{v1: msg("auto", "") + ` {}`, ach: msg("auto", "") + ` {}`, gen: prompt("auto", "") + ` x`}, "", 400},
		{"invalid UTF-8", map[string]string{
			v1:  "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}",
			ach: "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}",
			gen: "{\"model\":\"auto\",\"prompt\":\"\xc3\x28\"}"}, "", 400},
		{"wrong types", map[string]string{v1: `{"model":"auto","messages":"hi"}`, ach: `{"model":"auto","messages":"hi"}`, gen: `{"model":"auto","prompt":7}`}, "", 400},
		{"model not a string", map[string]string{v1: `{"model":1,"messages":[]}`, ach: `{"model":true}`, gen: `{"model":{},"prompt":"hi"}`}, "", 400},
		{"null body", map[string]string{v1: `null`, ach: `null`, gen: `null`}, "", 400},
		{"empty body", map[string]string{v1: ``, ach: ``, gen: ``}, "", 400},
		{"missing model", map[string]string{v1: `{"messages":[{"role":"user","content":"hi"}]}`, ach: `{"messages":[{"role":"user","content":"hi"}]}`, gen: `{"prompt":"hi"}`}, "", 400},
		{"empty messages", map[string]string{v1: `{"model":"auto","messages":[]}`, ach: `{"model":"auto","messages":[]}`, gen: `{"model":"auto","prompt":""}`}, "", 400},
		{"blank messages", map[string]string{
			v1: `{"model":"auto","messages":[{"role":"user","content":" \n"}]}`, ach: `{"model":"auto","messages":[{"role":"user","content":" \n"}]}`, gen: `{"model":"auto","prompt":"\t "}`}, "", 400},
		{"bad role", map[string]string{v1: `{"model":"auto","messages":[{"role":"tool","content":"hi"}]}`, ach: `{"model":"auto","messages":[{"role":"tool","content":"hi"}]}`, gen: `{"model":"auto","prompt":"hi","raw":true,"system":"s"}`}, "", 400},
		{"unknown model", map[string]string{v1: msg("gpt-4", ""), ach: msg("llama3", ""), gen: prompt("llama3:8b", "")}, "", 404},
		{"absurd max_tokens", map[string]string{
			v1: msg("auto", `,"max_tokens":99999999`), ach: msg("auto", `,"options":{"num_predict":99999999}`), gen: prompt("auto", `,"options":{"num_predict":1e300}`)}, "", 400},
		{"fractional max_tokens", map[string]string{
			v1: msg("auto", `,"max_tokens":1.5`), ach: msg("auto", `,"options":{"num_predict":1.5}`), gen: prompt("auto", `,"options":{"num_predict":"8"}`)}, "", 400},
		{"bad temperature", map[string]string{
			v1: msg("auto", `,"temperature":7`), ach: msg("auto", `,"options":{"temperature":-1}`), gen: prompt("auto", `,"options":{"temperature":"hot"}`)}, "", 400},
		{"bad policy header", map[string]string{v1: msg("auto", ""), ach: msg("auto", ""), gen: prompt("auto", "")}, "everywhere", 400},
		{"policy header conflict", map[string]string{v1: msg("local", ""), ach: msg("local", ""), gen: prompt("local", "")}, "cloud", 400},
	}
	// /v1/completions takes /api/generate's bodies, but for the fields
	// whose names differ.
	completion := map[string]string{
		"too large": prompt("auto", `,"user":"`+big+`"`), "bad role": prompt("auto", `,"echo":true`),
		"absurd max_tokens": prompt("auto", `,"max_tokens":99999999`), "fractional max_tokens": prompt("auto", `,"max_tokens":1.5`),
		"bad temperature": prompt("auto", `,"temperature":7`),
	}
	for _, tc := range tests {
		if b, ok := completion[tc.name]; ok {
			tc.bodies[cmp] = b
		} else {
			tc.bodies[cmp] = tc.bodies[gen]
		}
		for _, path := range []string{v1, ach, gen, cmp} {
			t.Run(tc.name+path, func(t *testing.T) {
				hdr := map[string]string{}
				if tc.header != "" {
					hdr["X-Cascade-Policy"] = tc.header
				}
				resp, raw := send(t, "POST", d.URL+path, "", hdr, tc.bodies[path])
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
				}
				errorShape(t, path, raw)
			})
		}
	}
	if n := d.cloudCalls(); n != 0 {
		t.Fatalf("bad requests reached the cloud %d times", n)
	}
}
