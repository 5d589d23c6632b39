package openai

// These tests run against openaitest (helpers_test.go), the fake server
// that follows OpenAI's documented wire format, because a paid API cannot be
// called here. They use 127.0.0.1 only. The contract every provider meets is
// in contract_test.go.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/cloud/cloudtest"
	"github.com/edgecascade/edgecascade/cloud/openai/openaitest"
	"github.com/edgecascade/edgecascade/models"
)

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{BaseURL: "https://api.openai.com/v1", Model: "gpt-4o-mini", APIKey: "k"}, ""},
		{"ok without key", Config{BaseURL: "http://127.0.0.1:11434/v1", Model: "qwen"}, ""},
		{"missing model", Config{BaseURL: "https://api.openai.com/v1"}, "model is required"},
		{"missing base URL", Config{Model: "m"}, "base URL is required"},
		{"bad scheme", Config{BaseURL: "ftp://x/v1", Model: "m"}, "scheme must be http or https"},
		{"no host", Config{BaseURL: "http:///v1", Model: "m"}, "missing host"},
		{"credentials in URL", Config{BaseURL: "http://u:p@h/v1", Model: "m"}, "must not carry credentials"},
		{"negative timeout", Config{BaseURL: "http://h/v1", Model: "m", Timeout: -time.Second}, "timeout"},
		{"negative retries", Config{BaseURL: "http://h/v1", Model: "m", MaxRetries: -1}, "max retries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if c.Name() != "openai" || c.Model() != tt.cfg.Model {
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
		wantContent  string
		wantStatus   int // 0 with wantErr: no HTTP answer
		wantErr      string
		wantAttempts int
		// wantRetryAfter is the wait the error carries (cloud.Error.RetryAfter).
		wantRetryAfter time.Duration
		minElapsed     time.Duration
		maxElapsed     time.Duration
	}{
		{
			name:         "success",
			handler:      func(w http.ResponseWriter, r *http.Request, n int) { writeCompletion(w, "Paris.") },
			wantContent:  "Paris.",
			wantAttempts: 1,
		},
		{
			name: "429 with Retry-After then success",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					openaitest.WriteError(w, 429, "Rate limit reached", "requests", "rate_limit_exceeded")
					return
				}
				writeCompletion(w, "Paris.")
			},
			wantContent:  "Paris.",
			wantAttempts: 2,
			// The SDK's first backoff is at most 0.5s, so waiting 1s shows
			// Retry-After was honoured.
			minElapsed: 950 * time.Millisecond,
		},
		{
			name: "429 with a Retry-After beyond the wait cap is returned at once",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Retry-After", "30")
				openaitest.WriteError(w, 429, "Rate limit reached", "requests", "rate_limit_exceeded")
			},
			wantStatus:     429,
			wantErr:        "Rate limit reached",
			wantAttempts:   1,
			wantRetryAfter: 30 * time.Second,
			maxElapsed:     2 * time.Second,
		},
		{
			name: "500 until retries are exhausted",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				openaitest.WriteError(w, 500, "The server had an error while processing your request.", "server_error", "")
			},
			wantStatus:   500,
			wantErr:      "server had an error while processing your request. (3 attempts)",
			wantAttempts: 3,
			// Exponential backoff: 0.5s then 1s, each less at most 25% jitter.
			minElapsed: 1100 * time.Millisecond,
		},
		{
			name: "400 is not retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				openaitest.WriteError(w, 400, "Invalid value for 'temperature'.", "invalid_request_error", "invalid_value")
			},
			wantStatus:   400,
			wantErr:      "Invalid value",
			wantAttempts: 1,
		},
		{
			name: "400 marked x-should-retry is still not retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("X-Should-Retry", "true")
				openaitest.WriteError(w, 400, "bad", "invalid_request_error", "")
			},
			wantStatus:   400,
			wantAttempts: 1,
		},
		{
			name: "409 is not retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				openaitest.WriteError(w, 409, "conflict", "invalid_request_error", "")
			},
			wantStatus:   409,
			wantAttempts: 1,
		},
		{
			name: "401 is not retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				openaitest.WriteError(w, 401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
			},
			wantStatus:   401,
			wantErr:      "Incorrect API key",
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
			name: "error body with a numeric code and a plain-text 404",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(404)
				_, _ = io.WriteString(w, `{"error":{"message":"The model gpt-test does not exist.","type":"NotFoundError","code":404}}`)
			},
			wantStatus:   404,
			wantErr:      "does not exist",
			wantAttempts: 1,
		},
		{
			name: "no choices",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[]}`)
			},
			wantErr:      "no choices",
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
			want := cloud.Response{Provider: "openai", Model: "gpt-test-0613", Content: tt.wantContent,
				FinishReason: "stop", Usage: cloud.Usage{PromptTokens: 12, CompletionTokens: 3}}
			if !reflect.DeepEqual(*resp, want) {
				t.Errorf("response = %+v, want %+v", *resp, want)
			}
		})
	}
}

func TestCompleteRequestWireFormat(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { writeCompletion(w, "ok") })
	c := newTestClient(t, f.URL, nil)
	if _, err := c.Complete(context.Background(), testRequest()); err != nil {
		t.Fatal(err)
	}
	body, auth, path := last(f)
	if path != "/v1/chat/completions" {
		t.Errorf("path = %q", path)
	}
	if auth != "Bearer "+testKey {
		t.Errorf("Authorization = %q", auth)
	}
	if body["model"] != "gpt-test" || body["max_completion_tokens"] != float64(64) || body["temperature"] != float64(0) {
		t.Errorf("body = %v", body)
	}
	if _, ok := body["stream"]; ok {
		t.Errorf("non-streaming request sent stream: %v", body)
	}
	msgs, _ := body["messages"].([]any)
	if len(msgs) != 2 {
		t.Fatalf("messages = %v", body["messages"])
	}
	if m := msgs[1].(map[string]any); m["role"] != "user" || m["content"] != "Capital of France?" {
		t.Errorf("message = %v", m)
	}
}

// An empty API key sends no Authorization header, even when OPENAI_API_KEY
// is set: the SDK client's environment defaults are not used.
func TestNoAPIKeySendsNoAuthorization(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-from-environment")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { writeCompletion(w, "ok") })
	c := newTestClient(t, f.URL, func(c *Config) { c.APIKey = "" })
	if _, err := c.Complete(context.Background(), testRequest()); err != nil {
		t.Fatal(err)
	}
	if _, auth, _ := last(f); auth != "" {
		t.Errorf("Authorization = %q, want none", auth)
	}
}

func TestCompleteBadRequest(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, cloudtest.RefusedURL(t), nil)
	tests := []struct {
		name string
		req  cloud.Request
		want string
	}{
		{"no messages", cloud.Request{}, "no messages"},
		{"unknown role", cloud.Request{Messages: []models.Message{{Role: "function", Content: "x"}}}, "unsupported role"},
		{"negative max tokens", cloud.Request{Messages: []models.Message{{Role: "user"}}, MaxTokens: -1}, "max tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Complete(context.Background(), tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			var ce *cloud.Error
			if errors.As(err, &ce) {
				t.Errorf("a bad request is not a provider failure: %v", err)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, cloudtest.RefusedURL(t), func(c *Config) { c.MaxRetries = 0 })
	calls := []struct {
		name string
		call func() error
	}{
		{"complete", func() error { _, err := c.Complete(context.Background(), testRequest()); return err }},
		{"stream", func() error { _, err := c.Stream(context.Background(), testRequest(), nil); return err }},
		{"ping", func() error { return c.Ping(context.Background()) }},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			asCloudError(t, err, 0)
			if !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("error %q does not say connection refused", err)
			}
			noKey(t, err)
		})
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	hang := func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
	tests := []struct {
		name string
		call func(c *Client) error
	}{
		{"complete", func(c *Client) error { _, err := c.Complete(context.Background(), testRequest()); return err }},
		{"stream before headers", func(c *Client) error { _, err := c.Stream(context.Background(), testRequest(), nil); return err }},
		{"ping", func(c *Client) error { return c.Ping(context.Background()) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, hang)
			c := newTestClient(t, f.URL, func(c *Config) { c.Timeout = 200 * time.Millisecond })
			start := time.Now()
			err := tt.call(c)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %s; the timeout was 200ms", d)
			}
			asCloudError(t, err, 0)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 200ms") {
				t.Errorf("error = %v, want a timeout", err)
			}
			// A timed-out attempt is not retried.
			if got := len(f.Requests()); got != 1 {
				t.Errorf("attempts = %d, want 1", got)
			}
		})
	}
}

func TestCallerCancel(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { <-r.Context().Done() })
	c := newTestClient(t, f.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Complete(ctx, testRequest())
	asCloudError(t, err, 0)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "caller gave up") {
		t.Errorf("error = %v", err)
	}
}
