package anthropic

// These tests run against anthropictest (helpers_test.go), the fake server
// that follows Anthropic's documented wire format, because no real key
// exists here. They use 127.0.0.1 only. The contract every provider meets is
// in contract_test.go.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/cloud/anthropic/anthropictest"
	"github.com/edgecascade/edgecascade/models"
)

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{BaseURL: "https://api.anthropic.com", Model: "claude-haiku-4-5", APIKey: "k"}, ""},
		{"ok with default base URL", Config{Model: "claude-haiku-4-5", APIKey: "k"}, ""},
		{"ok without key", Config{BaseURL: "http://127.0.0.1:4000", Model: "m"}, ""},
		{"ok with a path prefix", Config{BaseURL: "https://gateway.example/anthropic/", Model: "m"}, ""},
		{"missing model", Config{BaseURL: "https://api.anthropic.com"}, "model is required"},
		{"bad scheme", Config{BaseURL: "ftp://x", Model: "m"}, "scheme must be http or https"},
		{"no host", Config{BaseURL: "http:///x", Model: "m"}, "missing host"},
		{"credentials in URL", Config{BaseURL: "http://u:p@h", Model: "m"}, "must not carry credentials"},
		{"version path in URL", Config{BaseURL: "https://api.anthropic.com/v1/", Model: "m"}, "without /v1"},
		{"negative timeout", Config{Model: "m", Timeout: -time.Second}, "timeout"},
		{"negative retries", Config{Model: "m", MaxRetries: -1}, "max retries"},
		{"negative max tokens", Config{Model: "m", MaxTokens: -1}, "max tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if c.Name() != "anthropic" || c.Model() != tt.cfg.Model {
					t.Errorf("Name/Model = %q/%q", c.Name(), c.Model())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestComplete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		handler      handler
		mut          func(*Config)
		want         cloud.Response // checked when no error is wanted
		wantStatus   int            // 0 with wantErr: no HTTP answer
		wantErr      string
		wantAttempts int
		// wantRetryAfter is the wait the error carries (cloud.Error.RetryAfter).
		wantRetryAfter time.Duration
		minElapsed     time.Duration
		maxElapsed     time.Duration
	}{
		{
			name:    "success",
			handler: func(w http.ResponseWriter, r *http.Request, n int) { writeMessage(w, "Paris.", "end_turn") },
			want: cloud.Response{Provider: "anthropic", Model: "claude-test-20260101", Content: "Paris.",
				FinishReason: "stop", Usage: cloud.Usage{PromptTokens: 12, CompletionTokens: 3}},
			wantAttempts: 1,
		},
		{
			name: "text blocks joined, thinking skipped, cached input counted, max_tokens is length",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"id":"msg_01","type":"message","role":"assistant","model":"claude-test-20260101",`+
					`"content":[{"type":"thinking","thinking":"hmm","signature":"sig"},{"type":"text","text":"The capital"},`+
					`{"type":"text","text":" is Par"}],"stop_reason":"max_tokens","stop_sequence":null,`+
					`"usage":{"input_tokens":5,"cache_creation_input_tokens":4,"cache_read_input_tokens":3,"output_tokens":64}}`)
			},
			want: cloud.Response{Provider: "anthropic", Model: "claude-test-20260101", Content: "The capital is Par",
				FinishReason: "length", Usage: cloud.Usage{PromptTokens: 12, CompletionTokens: 64}},
			wantAttempts: 1,
		},
		{
			name: "429 with Retry-After then success",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					anthropictest.WriteError(w, 429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")
					return
				}
				writeMessage(w, "Paris.", "end_turn")
			},
			want: cloud.Response{Provider: "anthropic", Model: "claude-test-20260101", Content: "Paris.",
				FinishReason: "stop", Usage: cloud.Usage{PromptTokens: 12, CompletionTokens: 3}},
			wantAttempts: 2,
			// The SDK's first backoff is at most 0.5s, so waiting 1s shows
			// Retry-After was honoured.
			minElapsed: 950 * time.Millisecond,
		},
		{
			name: "429 with a Retry-After beyond the wait cap is returned at once",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Retry-After", "30")
				anthropictest.WriteError(w, 429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")
			},
			wantStatus:     429,
			wantErr:        "rate_limit_error: Number of request tokens",
			wantAttempts:   1,
			wantRetryAfter: 30 * time.Second,
			maxElapsed:     10 * time.Second, // instead of 30s
		},
		{
			name: "529 overloaded is retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					anthropictest.WriteError(w, 529, "overloaded_error", "Overloaded")
					return
				}
				writeMessage(w, "Paris.", "end_turn")
			},
			want: cloud.Response{Provider: "anthropic", Model: "claude-test-20260101", Content: "Paris.",
				FinishReason: "stop", Usage: cloud.Usage{PromptTokens: 12, CompletionTokens: 3}},
			wantAttempts: 2,
		},
		{
			name: "529 until retries are exhausted",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				anthropictest.WriteError(w, 529, "overloaded_error", "Overloaded")
			},
			wantStatus:   529,
			wantErr:      "overloaded_error: Overloaded (request req_011err) (3 attempts)",
			wantAttempts: 3,
			// Exponential backoff: 0.5s then 1s, each less at most 25% jitter.
			minElapsed: 1100 * time.Millisecond,
		},
		{
			name: "500 api_error",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				anthropictest.WriteError(w, 500, "api_error", "Internal server error")
			},
			mut:          func(c *Config) { c.MaxRetries = 1 },
			wantStatus:   500,
			wantErr:      "api_error: Internal server error",
			wantAttempts: 2,
		},
		{
			name: "400 is not retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				anthropictest.WriteError(w, 400, "invalid_request_error", "messages: text content blocks must be non-empty")
			},
			wantStatus:   400,
			wantErr:      "invalid_request_error: messages: text content blocks must be non-empty",
			wantAttempts: 1,
		},
		{
			name: "400 marked x-should-retry is still not retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("X-Should-Retry", "true")
				anthropictest.WriteError(w, 400, "invalid_request_error", "bad")
			},
			wantStatus:   400,
			wantAttempts: 1,
		},
		{
			name: "409 is not retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				anthropictest.WriteError(w, 409, "invalid_request_error", "conflict")
			},
			wantStatus:   409,
			wantAttempts: 1,
		},
		{
			name: "401 is not retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				anthropictest.WriteError(w, 401, "authentication_error", "invalid x-api-key")
			},
			wantStatus:   401,
			wantErr:      "authentication_error: invalid x-api-key",
			wantAttempts: 1,
		},
		{
			name: "502 with an HTML body",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(502)
				_, _ = io.WriteString(w, "<html><body>Bad Gateway</body></html>")
			},
			mut:          func(c *Config) { c.MaxRetries = 0 },
			wantStatus:   502,
			wantErr:      "bad gateway",
			wantAttempts: 1,
		},
		{
			name: "529 without a body",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.WriteHeader(529)
			},
			mut:          func(c *Config) { c.MaxRetries = 0 },
			wantStatus:   529,
			wantErr:      "overloaded",
			wantAttempts: 1,
		},
		{
			name: "gateway error in OpenAI's shape",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(404)
				_, _ = io.WriteString(w, `{"error":{"message":"model claude-test not found","type":"not_found","code":404}}`)
			},
			wantStatus:   404,
			wantErr:      "not_found: model claude-test not found",
			wantAttempts: 1,
		},
		{
			name: "malformed JSON answer",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"id":"msg_01","content":[{"type":"text","text":"Par`)
			},
			wantErr:      "parsing response json",
			wantAttempts: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, tt.handler)
			c := newTestClient(t, f.URL, tt.mut)
			start := time.Now()
			resp, err := c.Complete(context.Background(), testRequest())
			elapsed := time.Since(start)
			if got := len(f.Requests()); got != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", got, tt.wantAttempts)
			}
			if elapsed < tt.minElapsed {
				t.Errorf("took %s, want at least %s", elapsed, tt.minElapsed)
			}
			if tt.maxElapsed > 0 && elapsed > tt.maxElapsed {
				t.Errorf("took %s, want at most %s", elapsed, tt.maxElapsed)
			}
			if tt.wantErr != "" || tt.wantStatus != 0 {
				if ce := asCloudError(t, err, tt.wantStatus); ce.RetryAfter != tt.wantRetryAfter {
					t.Errorf("RetryAfter = %s, want %s", ce.RetryAfter, tt.wantRetryAfter)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				noKey(t, err)
				return
			}
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if !reflect.DeepEqual(*resp, tt.want) {
				t.Errorf("response = %+v, want %+v", *resp, tt.want)
			}
		})
	}
}

func TestCompleteRequestWireFormat(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { writeMessage(w, "ok", "end_turn") })
	c := newTestClient(t, f.URL, nil)
	if _, err := c.Complete(context.Background(), testRequest()); err != nil {
		t.Fatal(err)
	}
	got := lastRequest(f)
	if got.path != "/v1/messages" {
		t.Errorf("path = %q", got.path)
	}
	// SDK v2 (API version 2026-10-21) sends the API key as a bearer token;
	// the API also accepts it in x-api-key, which must then not be sent too.
	if auth := got.header.Get("Authorization"); auth != "Bearer "+testKey {
		t.Errorf("Authorization = %q", auth)
	}
	if k := got.header.Get("X-Api-Key"); k != "" {
		t.Errorf("x-api-key = %q, want none next to Authorization", k)
	}
	if v := got.header.Get("Anthropic-Version"); v != "2026-10-21" {
		t.Errorf("anthropic-version = %q", v)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content-type = %q", ct)
	}
	b := got.body
	if b["model"] != "claude-test" || b["max_tokens"] != float64(64) {
		t.Errorf("body = %v", b)
	}
	if _, ok := b["stream"]; ok {
		t.Errorf("non-streaming request sent stream: %v", b)
	}
	if _, ok := b["temperature"]; ok {
		t.Errorf("temperature sent, but API version 2026-10-21 has none: %v", b)
	}
	if got := fmt.Sprint(b["system"]); got != "[map[text:Be brief. type:text]]" {
		t.Errorf("system = %s", got)
	}
	if got := fmt.Sprint(b["messages"]); got != "[map[content:[map[text:Capital of France? type:text]] role:user]]" {
		t.Errorf("messages = %s", got)
	}
}

// TestMessageMapping checks how chat messages become the Messages API's
// system, messages and max_tokens.
func TestMessageMapping(t *testing.T) {
	t.Parallel()
	msg := func(role, content string) models.Message { return models.Message{Role: role, Content: content} }
	tests := []struct {
		name          string
		msgs          []models.Message
		reqMax        int
		cfgMax        int
		wantSystem    string // fmt.Sprint of the body's system; "<nil>" when absent
		wantMessages  string // fmt.Sprint of the body's messages
		wantMaxTokens float64
		wantErr       string
	}{
		{
			name:          "no system, default max tokens",
			msgs:          []models.Message{msg("user", "Hi")},
			wantSystem:    "<nil>",
			wantMessages:  "[map[content:[map[text:Hi type:text]] role:user]]",
			wantMaxTokens: DefaultMaxTokens,
		},
		{
			name:          "configured max tokens",
			msgs:          []models.Message{msg("user", "Hi")},
			cfgMax:        300,
			wantSystem:    "<nil>",
			wantMessages:  "[map[content:[map[text:Hi type:text]] role:user]]",
			wantMaxTokens: 300,
		},
		{
			name:          "system messages anywhere are joined in order",
			msgs:          []models.Message{msg("system", "Be brief."), msg("user", "Hi"), msg("developer", "Answer in French.")},
			reqMax:        10,
			wantSystem:    "[map[text:Be brief.\n\nAnswer in French. type:text]]",
			wantMessages:  "[map[content:[map[text:Hi type:text]] role:user]]",
			wantMaxTokens: 10,
		},
		{
			name: "consecutive turns of one role are merged",
			msgs: []models.Message{msg("user", "Hi"), msg("user", "Are you there?"), msg("assistant", "Yes."),
				msg("system", "Be brief."), msg("assistant", "How can I help?"), msg("user", "Capital of France?")},
			wantSystem: "[map[text:Be brief. type:text]]",
			wantMessages: "[map[content:[map[text:Hi\n\nAre you there? type:text]] role:user] " +
				"map[content:[map[text:Yes.\n\nHow can I help? type:text]] role:assistant] " +
				"map[content:[map[text:Capital of France? type:text]] role:user]]",
			wantMaxTokens: DefaultMaxTokens,
		},
		{
			name:          "a final assistant turn is kept (prefill)",
			msgs:          []models.Message{msg("user", "Hi"), msg("assistant", "Hello")},
			wantSystem:    "<nil>",
			wantMessages:  "[map[content:[map[text:Hi type:text]] role:user] map[content:[map[text:Hello type:text]] role:assistant]]",
			wantMaxTokens: DefaultMaxTokens,
		},
		{name: "no messages", wantErr: "no messages"},
		{name: "only system", msgs: []models.Message{msg("system", "x")}, wantErr: "no user message"},
		{name: "assistant first", msgs: []models.Message{msg("system", "x"), msg("assistant", "Hi"), msg("user", "Hi")},
			wantErr: "message 1: the first non-system message must have role user, not assistant"},
		{name: "unknown role", msgs: []models.Message{msg("user", "x"), msg("function", "x")}, wantErr: `message 1: unsupported role "function"`},
		{name: "negative max tokens", msgs: []models.Message{msg("user", "x")}, reqMax: -1, wantErr: "max tokens -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { writeMessage(w, "ok", "end_turn") })
			c := newTestClient(t, f.URL, func(c *Config) { c.MaxTokens = tt.cfgMax })
			_, err := c.Complete(context.Background(), cloud.Request{Messages: tt.msgs, MaxTokens: tt.reqMax})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				var ce *cloud.Error
				if errors.As(err, &ce) {
					t.Errorf("a bad request is not a provider failure: %v", err)
				}
				if n := len(f.Requests()); n != 0 {
					t.Errorf("a bad request reached the server (%d attempts)", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b := lastRequest(f).body
			if got := fmt.Sprint(b["system"]); got != tt.wantSystem {
				t.Errorf("system = %q, want %q", got, tt.wantSystem)
			}
			if got := fmt.Sprint(b["messages"]); got != tt.wantMessages {
				t.Errorf("messages = %q, want %q", got, tt.wantMessages)
			}
			if b["max_tokens"] != tt.wantMaxTokens {
				t.Errorf("max_tokens = %v, want %v", b["max_tokens"], tt.wantMaxTokens)
			}
		})
	}
}

func TestFinishReason(t *testing.T) {
	t.Parallel()
	for stop, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
		"model_context_window_exceeded": "length", "tool_use": "tool_calls",
		"refusal": "content_filter", "pause_turn": "pause_turn", "": "",
	} {
		if got := finishReason(stop); got != want {
			t.Errorf("finishReason(%q) = %q, want %q", stop, got, want)
		}
	}
}

// An empty API key sends no credential, even when the SDK's environment
// variables are set: the SDK client's environment defaults are not used.
func TestNoAPIKeyIgnoresEnvironment(t *testing.T) {
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-from-environment")
	t.Setenv("ANTHROPIC_AUTH_TOKEN", "token-from-environment")
	t.Setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1")
	t.Setenv("ANTHROPIC_CUSTOM_HEADERS", "X-From-Environment: yes")
	t.Setenv("ANTHROPIC_PROFILE", "no-such-profile")
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { writeMessage(w, "ok", "end_turn") })
	c := newTestClient(t, f.URL, func(c *Config) { c.APIKey = "" })
	if _, err := c.Complete(context.Background(), testRequest()); err != nil {
		t.Fatal(err)
	}
	h := lastRequest(f).header
	for _, name := range []string{"Authorization", "X-Api-Key", "X-From-Environment"} {
		if v := h.Get(name); v != "" {
			t.Errorf("%s = %q, want none", name, v)
		}
	}
}
