package openai

// These tests run against fake servers (fake_test.go) that follow OpenAI's
// documented wire format for /v1/chat/completions (JSON, and SSE chunks ended
// by "data: [DONE]"), /v1/models and the error body
// {"error":{"message","type","code"}}, because a paid API cannot be called
// here. They use 127.0.0.1 only.

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
					writeError(w, 429, "Rate limit reached", "requests", "rate_limit_exceeded")
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
				writeError(w, 429, "Rate limit reached", "requests", "rate_limit_exceeded")
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
				writeError(w, 500, "The server had an error while processing your request.", "server_error", "")
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
				writeError(w, 400, "Invalid value for 'temperature'.", "invalid_request_error", "invalid_value")
			},
			wantStatus:   400,
			wantErr:      "Invalid value",
			wantAttempts: 1,
		},
		{
			name: "400 marked x-should-retry is still not retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("X-Should-Retry", "true")
				writeError(w, 400, "bad", "invalid_request_error", "")
			},
			wantStatus:   400,
			wantAttempts: 1,
		},
		{
			name: "409 is not retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeError(w, 409, "conflict", "invalid_request_error", "")
			},
			wantStatus:   409,
			wantAttempts: 1,
		},
		{
			name: "401 is not retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeError(w, 401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
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
			c := newTestClient(t, f.srv.URL, tt.mut)
			start := time.Now()
			resp, err := c.Complete(context.Background(), testRequest())
			elapsed := time.Since(start)
			if got := int(f.attempts.Load()); got != tt.wantAttempts {
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
	c := newTestClient(t, f.srv.URL, nil)
	if _, err := c.Complete(context.Background(), testRequest()); err != nil {
		t.Fatal(err)
	}
	body, auth, path := f.last()
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
	c := newTestClient(t, f.srv.URL, func(c *Config) { c.APIKey = "" })
	if _, err := c.Complete(context.Background(), testRequest()); err != nil {
		t.Fatal(err)
	}
	if _, auth, _ := f.last(); auth != "" {
		t.Errorf("Authorization = %q, want none", auth)
	}
}

func TestCompleteBadRequest(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, refusedURL(t), nil)
	tests := []struct {
		name string
		req  cloud.Request
		want string
	}{
		{"no messages", cloud.Request{}, "no messages"},
		{"unknown role", cloud.Request{Messages: []models.Message{{Role: "tool", Content: "x"}}}, "unsupported role"},
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
	c := newTestClient(t, refusedURL(t), func(c *Config) { c.MaxRetries = 0 })
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
			c := newTestClient(t, f.srv.URL, func(c *Config) { c.Timeout = 200 * time.Millisecond })
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
			if got := f.attempts.Load(); got != 1 {
				t.Errorf("attempts = %d, want 1", got)
			}
		})
	}
}

func TestCallerCancel(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { <-r.Context().Done() })
	c := newTestClient(t, f.srv.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Complete(ctx, testRequest())
	asCloudError(t, err, 0)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "caller gave up") {
		t.Errorf("error = %v", err)
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	errStop := errors.New("client went away")
	tests := []struct {
		name         string
		handler      handler
		fnErr        error
		want         *cloud.Response
		wantDeltas   []string
		wantStatus   int
		wantErr      string
		wantAttempts int
	}{
		{
			name: "success with usage",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeSSE(w, roleChunk, chunk("The capital", ""), chunk(" is", ""), chunk(" Paris.", ""),
					chunk("", "stop"), usageChunk, "[DONE]")
			},
			want: &cloud.Response{Provider: "openai", Model: "gpt-test-0613", Content: "The capital is Paris.",
				FinishReason: "stop", Usage: cloud.Usage{PromptTokens: 12, CompletionTokens: 3}},
			wantDeltas:   []string{"The capital", " is", " Paris."},
			wantAttempts: 1,
		},
		{
			name: "success without a usage chunk",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeSSE(w, chunk("Paris.", "length"), "[DONE]")
			},
			want: &cloud.Response{Provider: "openai", Model: "gpt-test-0613", Content: "Paris.",
				FinishReason: "length"},
			wantDeltas:   []string{"Paris."},
			wantAttempts: 1,
		},
		{
			name: "429 then success",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", "0")
					writeError(w, 429, "Rate limit reached", "requests", "rate_limit_exceeded")
					return
				}
				writeSSE(w, chunk("Paris.", "stop"), "[DONE]")
			},
			want: &cloud.Response{Provider: "openai", Model: "gpt-test-0613", Content: "Paris.",
				FinishReason: "stop"},
			wantDeltas:   []string{"Paris."},
			wantAttempts: 2,
		},
		{
			name: "400 before the stream",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeError(w, 400, "messages is empty", "invalid_request_error", "")
			},
			wantStatus:   400,
			wantErr:      "messages is empty",
			wantAttempts: 1,
		},
		{
			name: "cut off without [DONE]",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeSSE(w, roleChunk, chunk("The capital", ""), chunk(" is", ""))
			},
			wantDeltas:   []string{"The capital", " is"},
			wantErr:      "ended before [DONE]",
			wantAttempts: 1,
		},
		{
			name: "connection dropped mid-body",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				conn, buf, err := w.(http.Hijacker).Hijack()
				if err != nil {
					return
				}
				defer conn.Close()
				fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 4096\r\n\r\n")
				fmt.Fprintf(buf, "data: %s\n\n", chunk("The capital", ""))
				_ = buf.Flush()
			},
			wantDeltas:   []string{"The capital"},
			wantErr:      "unexpected EOF",
			wantAttempts: 1,
		},
		{
			name: "malformed chunk JSON",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeSSE(w, chunk("The capital", ""), `{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"is`, "[DONE]")
			},
			wantDeltas:   []string{"The capital"},
			wantErr:      "malformed chunk",
			wantAttempts: 1,
		},
		{
			name: "error event mid-stream",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeSSE(w, chunk("The capital", ""),
					`{"error":{"message":"The server had an error while processing your request.","type":"server_error","code":null}}`)
			},
			wantDeltas:   []string{"The capital"},
			wantErr:      "server had an error",
			wantAttempts: 1,
		},
		{
			name: "JSON answer to a streaming request",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeCompletion(w, "Paris.")
			},
			wantErr:      "ended before [DONE]",
			wantAttempts: 1,
		},
		{
			name: "delta func error stops the stream",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeSSE(w, chunk("The capital", ""), chunk(" is", ""), "[DONE]")
			},
			fnErr:        errStop,
			wantDeltas:   []string{"The capital"},
			wantAttempts: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, tt.handler)
			c := newTestClient(t, f.srv.URL, nil)
			var deltas []string
			resp, err := c.Stream(context.Background(), testRequest(), func(d string) error {
				deltas = append(deltas, d)
				return tt.fnErr
			})
			if got := int(f.attempts.Load()); got != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", got, tt.wantAttempts)
			}
			if strings.Join(deltas, "|") != strings.Join(tt.wantDeltas, "|") {
				t.Errorf("deltas = %q, want %q", deltas, tt.wantDeltas)
			}
			body, _, _ := f.last()
			if body["stream"] != true {
				t.Errorf("request did not ask to stream: %v", body)
			}
			if so, _ := body["stream_options"].(map[string]any); so["include_usage"] != true {
				t.Errorf("stream_options = %v, want include_usage", body["stream_options"])
			}
			switch {
			case tt.fnErr != nil:
				if !errors.Is(err, tt.fnErr) {
					t.Fatalf("err = %v, want %v", err, tt.fnErr)
				}
				var ce *cloud.Error
				if errors.As(err, &ce) {
					t.Errorf("a delta func error is not a provider failure: %v", err)
				}
			case tt.wantErr != "" || tt.wantStatus != 0:
				if resp != nil {
					t.Errorf("partial response returned with the error: %+v", resp)
				}
				asCloudError(t, err, tt.wantStatus)
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				noKey(t, err)
			default:
				if err != nil {
					t.Fatalf("Stream: %v", err)
				}
				if !reflect.DeepEqual(*resp, *tt.want) {
					t.Errorf("response = %+v, want %+v", *resp, *tt.want)
				}
			}
		})
	}
}

func TestStreamTimeoutMidBody(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeSSE(w, chunk("The capital", ""))
		<-r.Context().Done()
	})
	c := newTestClient(t, f.srv.URL, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	resp, err := c.Stream(context.Background(), testRequest(), nil)
	if resp != nil {
		t.Errorf("partial response: %+v", resp)
	}
	asCloudError(t, err, 0)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("error = %v, want a timeout", err)
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		handler    handler
		wantStatus int
		wantErr    bool
	}{
		{
			name: "ok",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"gpt-test","object":"model","created":1686935002,"owned_by":"openai"}]}`)
			},
		},
		{
			name: "bad key",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeError(w, 401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
			},
			wantStatus: 401,
			wantErr:    true,
		},
		{
			name: "503 is not retried by ping",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeError(w, 503, "overloaded", "server_error", "")
			},
			wantStatus: 503,
			wantErr:    true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, tt.handler)
			c := newTestClient(t, f.srv.URL, nil)
			err := c.Ping(context.Background())
			if _, _, path := f.last(); path != "/v1/models" {
				t.Errorf("path = %q, want /v1/models", path)
			}
			if got := f.attempts.Load(); got != 1 {
				t.Errorf("attempts = %d, want 1", got)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Ping: %v", err)
				}
				return
			}
			asCloudError(t, err, tt.wantStatus)
			noKey(t, err)
		})
	}
}

// Servers may echo what they were sent, the Authorization header included;
// the key must not reach any error message.
func TestAPIKeyNeverInErrors(t *testing.T) {
	t.Parallel()
	echo := func(r *http.Request) string { return "you sent " + r.Header.Get("Authorization") }
	tests := []struct {
		name    string
		handler handler
		call    func(c *Client) error
	}{
		{
			name: "error body message",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeError(w, 401, echo(r), "invalid_request_error", "invalid_api_key")
			},
		},
		{
			name: "error body type and code",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeError(w, 403, "no", echo(r), echo(r))
			},
		},
		{
			name: "bare string error",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.WriteHeader(400)
				_, _ = fmt.Fprintf(w, `{"error":%q}`, echo(r))
			},
		},
		{
			name: "plain-text body",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(403)
				_, _ = io.WriteString(w, echo(r))
			},
		},
		{
			name: "error event mid-stream",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeSSE(w, fmt.Sprintf(`{"error":{"message":%q,"type":"server_error"}}`, echo(r)))
			},
			call: func(c *Client) error { _, err := c.Stream(context.Background(), testRequest(), nil); return err },
		},
		{
			name: "malformed chunk",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeSSE(w, fmt.Sprintf(`{"choices": %q}`, echo(r)))
			},
			call: func(c *Client) error { _, err := c.Stream(context.Background(), testRequest(), nil); return err },
		},
		{
			name: "ping",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeError(w, 401, echo(r), "invalid_request_error", "invalid_api_key")
			},
			call: func(c *Client) error { return c.Ping(context.Background()) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, tt.handler)
			c := newTestClient(t, f.srv.URL, func(c *Config) { c.MaxRetries = 0 })
			call := tt.call
			if call == nil {
				call = func(c *Client) error { _, err := c.Complete(context.Background(), testRequest()); return err }
			}
			err := call(c)
			if err == nil {
				t.Fatal("want error")
			}
			if _, auth, _ := f.last(); auth != "Bearer "+testKey {
				t.Fatalf("the fake did not receive the key (Authorization %q)", auth)
			}
			noKey(t, err)
			var ae *APIError
			if errors.As(err, &ae) && strings.Contains(ae.Type+ae.Code+ae.Message, testKey) {
				t.Errorf("API key in APIError fields: %+v", *ae)
			}
			for _, s := range []string{fmt.Sprint(err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if strings.Contains(s, testKey) {
					t.Errorf("API key in formatted error: %s", s)
				}
			}
		})
	}
}

func TestConfigDoesNotPrintKey(t *testing.T) {
	t.Parallel()
	cfg := Config{BaseURL: "https://api.openai.com/v1", Model: "m", APIKey: testKey}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg),
		fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), cfg.LogValue().String()} {
		if strings.Contains(s, testKey) {
			t.Errorf("API key printed: %s", s)
		}
	}
}
