package llamacpp

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestProps(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Props
	}{
		{"current", propsCurrent, Props{ContextSize: 1024, ChatTemplate: "{% for message in messages %}...{% endfor %}",
			ModelPath: "../models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", TotalSlots: 1, BuildInfo: "b6385-a1b2c3d4"}},
		{"late 2024", propsOct2024, Props{ContextSize: 4096, ChatTemplate: "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}", TotalSlots: 2}},
		{"top-level n_ctx", propsTopLevel, Props{ContextSize: 8192, ChatTemplate: "<|im_start|>...", ModelPath: "/m/qwen.gguf", BuildInfo: "b7000-0f0f0f0"}},
		{"no context size", `{"chat_template":""}`, Props{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, map[string]route{"GET /props": {200, "", tt.body}})
			got, err := newClient(t, f.URL, nil).Props(context.Background())
			if err != nil {
				t.Fatalf("Props: %v", err)
			}
			if *got != tt.want {
				t.Errorf("Props = %+v, want %+v", *got, tt.want)
			}
			n, err := newClient(t, f.URL, nil).ContextLength(context.Background())
			switch {
			case tt.want.ContextSize == 0 && (err == nil || !strings.Contains(err.Error(), "no context size")):
				t.Errorf("ContextLength = %d, %v; want an error saying the size is unknown", n, err)
			case tt.want.ContextSize > 0 && (err != nil || n != tt.want.ContextSize):
				t.Errorf("ContextLength = %d, %v; want %d", n, err, tt.want.ContextSize)
			}
		})
	}
}

func TestPing(t *testing.T) {
	f := newFake(t, map[string]route{"GET /health": {200, "", healthOK}})
	if err := newClient(t, f.URL, nil).Ping(context.Background()); err != nil {
		t.Errorf("Ping = %v", err)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		wantErr  string
		wantName string
	}{
		{"ok", Config{URL: "http://127.0.0.1:8080", Model: "qwen"}, "", "qwen"},
		{"trailing slash, no model", Config{URL: "http://127.0.0.1:8080/"}, "", "llama-server"},
		{"api prefix", Config{URL: "http://127.0.0.1:8080/llama"}, "", "llama-server"},
		{"empty url", Config{}, "invalid url", ""},
		{"no scheme", Config{URL: "127.0.0.1:8080"}, "invalid url", ""},
		{"v1 suffix", Config{URL: "http://127.0.0.1:8080/v1"}, "without /v1", ""},
		{"query", Config{URL: "http://127.0.0.1:8080/?a=b"}, "no query", ""},
		{"negative timeout", Config{URL: "http://127.0.0.1:8080", Timeout: -time.Second}, "negative timeout", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New = %v, want error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if c.Name() != tt.wantName {
				t.Errorf("Name = %q, want %q", c.Name(), tt.wantName)
			}
		})
	}
}

func TestAPIPrefix(t *testing.T) {
	f := newFake(t, map[string]route{"GET /llama/health": {200, "", healthOK}})
	if err := newClient(t, f.URL+"/llama/", nil).Ping(context.Background()); err != nil {
		t.Errorf("Ping under a prefix = %v", err)
	}
}
