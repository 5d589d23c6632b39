package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

func TestErrorMapping(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, maxBody: 4096})
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"malformed JSON", `{"model": "auto", "messages": [`, 400, "invalid_request"},
		{"not an object", `[1,2]`, 400, "invalid_request"},
		{"trailing data", `{"model":"auto","messages":[{"role":"user","content":"hi"}]} {}`, 400, "invalid_request"},
		{"missing messages", `{"model": "auto"}`, 400, "invalid_request"},
		{"empty messages", `{"model": "auto", "messages": []}`, 400, "invalid_request"},
		{"blank contents", `{"model": "auto", "messages": [{"role":"user","content":"  "}]}`, 400, "invalid_request"},
		{"missing model", `{"messages": [{"role":"user","content":"hi"}]}`, 400, "invalid_request"},
		{"wrong type", `{"model": "auto", "messages": "hi"}`, 400, "invalid_request"},
		{"bad role", `{"model": "auto", "messages": [{"role":"tool","content":"hi"}]}`, 400, "invalid_request"},
		{"image part", `{"model": "auto", "messages": [{"role":"user","content":[{"type":"image_url"}]}]}`, 400, "invalid_request"},
		{"absurd max_tokens", `{"model": "auto", "max_tokens": 99999999, "messages": [{"role":"user","content":"hi"}]}`, 400, "invalid_request"},
		{"negative max_tokens", `{"model": "auto", "max_tokens": -1, "messages": [{"role":"user","content":"hi"}]}`, 400, "invalid_request"},
		{"invalid UTF-8", "{\"model\": \"auto\", \"messages\": [{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}", 400, "invalid_request"},
		{"unknown model", `{"model": "gpt-4", "messages": [{"role":"user","content":"hi"}]}`, 404, "model_not_found"},
		{"too large", `{"model": "auto", "messages": [{"role":"user","content":"` + strings.Repeat("a", 5000) + `"}]}`, 413, "request_too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw := post(t, d.URL+"/v1/chat/completions", tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
			}
			var e struct {
				Error struct {
					Message, Type, Code string
				} `json:"error"`
			}
			if err := json.Unmarshal(raw, &e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
				t.Fatalf("not the OpenAI error shape: %s", raw)
			}
			if e.Error.Code != tc.code {
				t.Fatalf("code %q, want %q (%s)", e.Error.Code, tc.code, e.Error.Message)
			}
		})
	}
	if n := d.cloudCalls(); n != 0 {
		t.Fatalf("bad requests reached the cloud %d times", n)
	}
}

func TestModelsAndHealth(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5})
	resp, err := http.Get(d.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Object string                `json:"object"`
		Data   []struct{ ID string } `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	if list.Object != "list" || strings.Join(ids, ",") != "auto,local,cloud" {
		t.Fatalf("models = %+v", list)
	}

	h := health(t, d)
	if h.Status != "ok" || !h.Local.OK || !h.Cloud.Reachable || h.Local.Model != fakeLocalName {
		t.Fatalf("health = %+v", h)
	}
}

type healthDoc struct {
	Status string `json:"status"`
	Local  struct {
		OK    bool   `json:"ok"`
		Model string `json:"model"`
		Error string `json:"error"`
	} `json:"local"`
	Cloud struct {
		Reachable bool   `json:"reachable"`
		Error     string `json:"error"`
	} `json:"cloud"`
}

func health(t *testing.T, d *daemon) healthDoc {
	t.Helper()
	resp, err := http.Get(d.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h healthDoc
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestLocalModelDown runs the local model on its own Ollama, kills that
// server, and checks that auto falls back to the cloud while local says 503.
func TestLocalModelDown(t *testing.T) {
	needBed(t)
	localOllama := ollamatest.New(t, ollamatest.Weak)
	d := newDaemon(t, daemonOpts{threshold: 0.5, localURL: localOllama.URL})
	if _, c := ask(t, d, "auto", easyQuestion); c.Cascade == nil || c.Cascade.Route != "local" {
		t.Fatalf("before the kill: %+v", c.Cascade)
	}
	localOllama.Stop()

	resp, c := ask(t, d, "auto", easyQuestion)
	if resp.StatusCode != http.StatusOK || c.Cascade.Route != "cloud" || !c.Cascade.Escalated {
		t.Fatalf("auto with local down: status %d cascade %+v", resp.StatusCode, c.Cascade)
	}
	if !strings.Contains(c.Cascade.Reason, "local model unavailable") {
		t.Fatalf("reason %q does not say the local model is down", c.Cascade.Reason)
	}
	if sr := streamChat(t, d, "auto", easyQuestion); sr.status != 200 || sr.cascade.Route != "cloud" || sr.content != c.Choices[0].Message.Content {
		t.Fatalf("streaming auto with local down: %+v", sr)
	}

	resp, c = ask(t, d, "local", easyQuestion)
	if resp.StatusCode != http.StatusServiceUnavailable || c.Error == nil || !strings.Contains(c.Error.Message, "local model unavailable") {
		t.Fatalf("local with local down: status %d error %+v", resp.StatusCode, c.Error)
	}
	if sr := streamChat(t, d, "local", easyQuestion); sr.status != http.StatusServiceUnavailable {
		t.Fatalf("streaming local with local down: status %d", sr.status)
	}
	if h := health(t, d); h.Status != "degraded" || h.Local.OK || h.Local.Error == "" || !h.Cloud.Reachable {
		t.Fatalf("health with local down = %+v", h)
	}

	// Back up: local answers again.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := localOllama.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, c := ask(t, d, "auto", easyQuestion); c.Cascade == nil || c.Cascade.Route != "local" {
		t.Fatalf("after restart: %+v", c.Cascade)
	}
}

// TestLocalModelMissing names the model and how to import it.
func TestLocalModelMissing(t *testing.T) {
	s := needBed(t)
	dm := newDaemonModel(t, s.URL, "no-such-model")
	resp, c := ask(t, dm, "local", easyQuestion)
	if resp.StatusCode != http.StatusServiceUnavailable || c.Error == nil ||
		!strings.Contains(c.Error.Message, "no-such-model") || !strings.Contains(c.Error.Message, "ollama pull") {
		t.Fatalf("missing model: status %d error %+v", resp.StatusCode, c.Error)
	}
	resp, c = ask(t, dm, "auto", easyQuestion)
	if resp.StatusCode != http.StatusOK || c.Cascade.Route != "cloud" {
		t.Fatalf("auto with missing local model: status %d %+v", resp.StatusCode, c.Cascade)
	}
}
