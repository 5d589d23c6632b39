package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"
)

// TestOllamaCompatibleAPI uses Ollama's official Go client, unmodified, as a
// client of the daemon.
func TestOllamaCompatibleAPI(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5})
	cl := apiClient(t, d.URL)
	ctx := context.Background()

	v, err := cl.Version(ctx)
	if err != nil || !strings.Contains(v, "edgecascade") {
		t.Fatalf("version %q, %v", v, err)
	}
	tags, err := cl.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range tags.Models {
		names = append(names, m.Name)
	}
	if strings.Join(names, ",") != "auto,local,cloud" {
		t.Fatalf("tags = %v", names)
	}

	_, want := ask(t, d, "auto", easyQuestion) // the OpenAI-compatible answer
	opts := map[string]any{"temperature": 0}
	for _, stream := range []bool{false, true} {
		var chat strings.Builder
		chunks := 0
		err := cl.Chat(ctx, &api.ChatRequest{Model: "auto", Stream: &stream, Options: opts,
			Messages: []api.Message{{Role: "user", Content: easyQuestion}}},
			func(r api.ChatResponse) error { chat.WriteString(r.Message.Content); chunks++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if chat.String() != want.Choices[0].Message.Content {
			t.Fatalf("stream=%v: /api/chat %q, /v1 %q", stream, chat.String(), want.Choices[0].Message.Content)
		}
		var gen strings.Builder
		err = cl.Generate(ctx, &api.GenerateRequest{Model: "auto:latest", Prompt: easyQuestion, Stream: &stream, Options: opts},
			func(r api.GenerateResponse) error { gen.WriteString(r.Response); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if gen.String() != chat.String() {
			t.Fatalf("stream=%v: /api/generate %q, /api/chat %q", stream, gen.String(), chat.String())
		}
	}

	// The decision rides in the cascade field (raw HTTP: the client drops it).
	resp, raw := post(t, d.URL+"/api/chat", map[string]any{"model": "auto", "stream": false,
		"messages": []map[string]string{{"role": "user", "content": easyQuestion}}})
	var doc struct {
		Done    bool        `json:"done"`
		Cascade *cascadeObj `json:"cascade"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || !doc.Done || doc.Cascade == nil || doc.Cascade.Route != "local" || resp.Header.Get("X-Cascade-Route") != "local" {
		t.Fatalf("cascade field: %s", raw)
	}

	// Errors come back as Ollama's {"error": ...} with the right status.
	err = cl.Chat(ctx, &api.ChatRequest{Model: "llama3", Messages: []api.Message{{Role: "user", Content: "hi"}}}, func(api.ChatResponse) error { return nil })
	var se api.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusNotFound || !strings.Contains(se.ErrorMessage, "auto, local or cloud") {
		t.Fatalf("unknown model: %v", err)
	}
	err = cl.Generate(ctx, &api.GenerateRequest{Model: "auto", Prompt: "hi", Options: map[string]any{"temperature": "hot"}}, func(api.GenerateResponse) error { return nil })
	if !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad option: %v", err)
	}
	if n := d.cloudCalls(); n != 0 {
		t.Fatalf("confident answers called the cloud %d times", n)
	}
}

func TestOllamaAPILocalNeverCallsCloud(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 1.01})
	cl := apiClient(t, d.URL)
	for _, stream := range []bool{false, true} {
		err := cl.Chat(context.Background(), &api.ChatRequest{Model: "local", Stream: &stream,
			Messages: []api.Message{{Role: "user", Content: "What is 4721 + 3389?"}}}, func(api.ChatResponse) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := d.cloudCalls(); n != 0 {
		t.Fatalf("policy local called the cloud %d times", n)
	}
	// auto escalates, through the same API.
	var route string
	resp, raw := post(t, d.URL+"/api/generate", map[string]any{"model": "auto", "stream": false, "prompt": "What is 4721 + 3389?"})
	route = resp.Header.Get("X-Cascade-Route")
	if resp.StatusCode != http.StatusOK || route != "cloud" {
		t.Fatalf("auto: status %d route %q: %s", resp.StatusCode, route, raw)
	}
}
