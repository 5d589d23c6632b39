package openai

// Streaming, ping and API key tests, against openaitest (helpers_test.go).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/cloud/cloudtest"
	"github.com/edgecascade/edgecascade/cloud/openai/openaitest"
)

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
				openaitest.WriteSSE(w, roleChunk, chunk("The capital", ""), chunk(" is", ""), chunk(" Paris.", ""),
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
				openaitest.WriteSSE(w, chunk("Paris.", "length"), "[DONE]")
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
					openaitest.WriteError(w, 429, "Rate limit reached", "requests", "rate_limit_exceeded")
					return
				}
				openaitest.WriteSSE(w, chunk("Paris.", "stop"), "[DONE]")
			},
			want: &cloud.Response{Provider: "openai", Model: "gpt-test-0613", Content: "Paris.",
				FinishReason: "stop"},
			wantDeltas:   []string{"Paris."},
			wantAttempts: 2,
		},
		{
			name: "400 before the stream",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				openaitest.WriteError(w, 400, "messages is empty", "invalid_request_error", "")
			},
			wantStatus:   400,
			wantErr:      "messages is empty",
			wantAttempts: 1,
		},
		{
			name: "cut off without [DONE]",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				openaitest.WriteSSE(w, roleChunk, chunk("The capital", ""), chunk(" is", ""))
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
				openaitest.WriteSSE(w, chunk("The capital", ""), `{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"is`, "[DONE]")
			},
			wantDeltas:   []string{"The capital"},
			wantErr:      "malformed chunk",
			wantAttempts: 1,
		},
		{
			name: "error event mid-stream",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				openaitest.WriteSSE(w, chunk("The capital", ""),
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
				openaitest.WriteSSE(w, chunk("The capital", ""), chunk(" is", ""), "[DONE]")
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
			c := newTestClient(t, f.URL, nil)
			var deltas []string
			resp, err := c.Stream(context.Background(), testRequest(), func(d string) error {
				deltas = append(deltas, d)
				return tt.fnErr
			})
			if got := len(f.Requests()); got != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", got, tt.wantAttempts)
			}
			if strings.Join(deltas, "|") != strings.Join(tt.wantDeltas, "|") {
				t.Errorf("deltas = %q, want %q", deltas, tt.wantDeltas)
			}
			body, _, _ := last(f)
			if body["stream"] != true {
				t.Errorf("request did not ask to stream: %v", body)
			}
			if so, _ := body["stream_options"].(map[string]any); so["include_usage"] != true {
				t.Errorf("stream_options = %v, want include_usage", body["stream_options"])
			}
			cloudtest.CheckOutcome(t, resp, err, cloudtest.Outcome{Provider: ProviderName, Key: testKey,
				Want: tt.want, Status: tt.wantStatus, Err: tt.wantErr, FnErr: tt.fnErr})
		})
	}
}

func TestStreamTimeoutMidBody(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		openaitest.WriteSSE(w, chunk("The capital", ""))
		<-r.Context().Done()
	})
	c := newTestClient(t, f.URL, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	resp, err := c.Stream(context.Background(), testRequest(), nil)
	if resp != nil {
		t.Errorf("partial response: %+v", resp)
	}
	asCloudError(t, err, 0)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("error = %v, want a timeout", err)
	}
}

// TestPingWireFormat: Ping lists the models. Its answers and failures
// (401, 5xx not retried) are in the contract (contract_test.go).
func TestPingWireFormat(t *testing.T) {
	t.Parallel()
	f := openaitest.New(t, openaitest.Config{})
	if err := newTestClient(t, f.URL, nil).Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if r := f.Last(); len(f.Requests()) != 1 || r.Method != "GET" || r.Path != "/v1/models" || r.Header.Get("Authorization") != "Bearer "+testKey {
		t.Errorf("ping sent %d requests, the last %s %s with Authorization %q; want one GET /v1/models with the key",
			len(f.Requests()), r.Method, r.Path, r.Header.Get("Authorization"))
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
				openaitest.WriteError(w, 401, echo(r), "invalid_request_error", "invalid_api_key")
			},
		},
		{
			name: "error body type and code",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				openaitest.WriteError(w, 403, "no", echo(r), echo(r))
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
				openaitest.WriteSSE(w, fmt.Sprintf(`{"error":{"message":%q,"type":"server_error"}}`, echo(r)))
			},
			call: func(c *Client) error { _, err := c.Stream(context.Background(), testRequest(), nil); return err },
		},
		{
			name: "malformed chunk",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				openaitest.WriteSSE(w, fmt.Sprintf(`{"choices": %q}`, echo(r)))
			},
			call: func(c *Client) error { _, err := c.Stream(context.Background(), testRequest(), nil); return err },
		},
		{
			name: "ping",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				openaitest.WriteError(w, 401, echo(r), "invalid_request_error", "invalid_api_key")
			},
			call: func(c *Client) error { return c.Ping(context.Background()) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, tt.handler)
			c := newTestClient(t, f.URL, func(c *Config) { c.MaxRetries = 0 })
			call := tt.call
			if call == nil {
				call = func(c *Client) error { _, err := c.Complete(context.Background(), testRequest()); return err }
			}
			err := call(c)
			if err == nil {
				t.Fatal("want error")
			}
			if _, auth, _ := last(f); auth != "Bearer "+testKey {
				t.Fatalf("the fake did not receive the key (Authorization %q)", auth)
			}
			noKey(t, err)
			var ae *APIError
			if errors.As(err, &ae) && strings.Contains(ae.Type+ae.Code+ae.Message, testKey) {
				t.Errorf("API key in APIError fields: %+v", *ae)
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
	cloudtest.NotFormatted(t, testKey, cfg, c, cfg.LogValue().String())
}
