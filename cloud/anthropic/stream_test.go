package anthropic

// Streaming, timeout and connection tests, against the fake server of
// fake_test.go (Anthropic's documented SSE format: "event:" and "data:" lines,
// ended by message_stop), because no real key exists here. 127.0.0.1 only.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
)

func TestStream(t *testing.T) {
	t.Parallel()
	errStop := errors.New("client went away")
	paris := &cloud.Response{Provider: "anthropic", Model: "claude-test-20260101", Content: "The capital is Paris.",
		FinishReason: "stop", Usage: cloud.Usage{PromptTokens: 12, CompletionTokens: 7}}
	parisDeltas := []string{"The capital", " is", " Paris."}
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
			name:         "success with ping events and usage",
			handler:      func(w http.ResponseWriter, r *http.Request, n int) { writeSSE(w, fullStream()...) },
			want:         paris,
			wantDeltas:   parisDeltas,
			wantAttempts: 1,
		},
		{
			name: "max_tokens is length; thinking deltas and unknown events are skipped",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeSSE(w, messageStart(),
					sse{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`},
					sse{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Paris, surely"}}`},
					sse{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}`},
					blockStop(0),
					sse{"future_event", `{"type":"future_event","x":1}`},
					blockStart(1), textDelta(1, "Par"), blockStop(1),
					messageDelta("max_tokens", 64), messageStop())
			},
			want: &cloud.Response{Provider: "anthropic", Model: "claude-test-20260101", Content: "Par",
				FinishReason: "length", Usage: cloud.Usage{PromptTokens: 12, CompletionTokens: 64}},
			wantDeltas:   []string{"Par"},
			wantAttempts: 1,
		},
		{
			name: "429 then success",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", "0")
					writeError(w, 429, "rate_limit_error", "rate limited")
					return
				}
				writeSSE(w, fullStream()...)
			},
			want:         paris,
			wantDeltas:   parisDeltas,
			wantAttempts: 2,
		},
		{
			name: "529 then success",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After-Ms", "10")
					writeError(w, 529, "overloaded_error", "Overloaded")
					return
				}
				writeSSE(w, fullStream()...)
			},
			want:         paris,
			wantDeltas:   parisDeltas,
			wantAttempts: 2,
		},
		{
			name: "400 before the stream",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeError(w, 400, "invalid_request_error", "max_tokens: must be at least 1")
			},
			wantStatus:   400,
			wantErr:      "invalid_request_error: max_tokens: must be at least 1",
			wantAttempts: 1,
		},
		{
			name: "cut off before message_stop",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeSSE(w, messageStart(), blockStart(0), textDelta(0, "The capital"), textDelta(0, " is"))
			},
			wantDeltas:   []string{"The capital", " is"},
			wantErr:      "stream ended before message_stop after 14 bytes",
			wantAttempts: 1,
		},
		{
			name: "cut off after message_delta",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				all := fullStream()
				writeSSE(w, all[:len(all)-1]...)
			},
			wantDeltas:   parisDeltas,
			wantErr:      "ended before message_stop",
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
				for _, e := range []sse{messageStart(), textDelta(0, "The capital")} {
					fmt.Fprintf(buf, "event: %s\ndata: %s\n\n", e.event, e.data)
				}
				_ = buf.Flush()
			},
			wantDeltas:   []string{"The capital"},
			wantErr:      "unexpected EOF",
			wantAttempts: 1,
		},
		{
			name: "malformed event JSON",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeSSE(w, messageStart(), textDelta(0, "The capital"),
					sse{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" is`},
					messageStop())
			},
			wantDeltas:   []string{"The capital"},
			wantErr:      "malformed event",
			wantAttempts: 1,
		},
		{
			name: "error event mid-stream",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeSSE(w, messageStart(), blockStart(0), textDelta(0, "The capital"), ping(),
					errorEvent("overloaded_error", "Overloaded"))
			},
			wantDeltas:   []string{"The capital"},
			wantErr:      "error event: overloaded_error: Overloaded (request req_011stream)",
			wantAttempts: 1,
		},
		{
			name: "JSON answer to a streaming request",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				writeMessage(w, "Paris.", "end_turn")
			},
			wantErr:      "ended before message_stop",
			wantAttempts: 1,
		},
		{
			name:         "delta func error stops the stream",
			handler:      func(w http.ResponseWriter, r *http.Request, n int) { writeSSE(w, fullStream()...) },
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
			got := f.lastRequest()
			if got.path != "/v1/messages" || got.body["stream"] != true || got.body["max_tokens"] != float64(64) {
				t.Errorf("request = %s %v, want a streaming /v1/messages", got.path, got.body)
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

// A connection error is retried like a 5xx.
func TestConnectionRefusedRetried(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, refusedURL(t), func(c *Config) { c.MaxRetries = 1 })
	_, err := c.Complete(context.Background(), testRequest())
	asCloudError(t, err, 0)
	if !strings.Contains(err.Error(), "(2 attempts)") {
		t.Errorf("error %q does not count 2 attempts", err)
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
			// Generous for a loaded machine; without the timeout it is 10s.
			if d := time.Since(start); d > 6*time.Second {
				t.Errorf("took %s; the timeout was 200ms", d)
			}
			asCloudError(t, err, 0)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 200ms") {
				t.Errorf("error = %v, want a timeout", err)
			}
			// A timed-out attempt is not retried (MaxRetries is 2).
			if got := f.attempts.Load(); got != 1 {
				t.Errorf("attempts = %d, want 1", got)
			}
		})
	}
}

// The timeout is per attempt: a retry after a quick 529 gets a fresh one,
// and the backoff wait does not count.
func TestTimeoutIsPerAttempt(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After-Ms", "1900")
			writeError(w, 529, "overloaded_error", "Overloaded")
			return
		}
		time.Sleep(2300 * time.Millisecond)
		writeMessage(w, "Paris.", "end_turn")
	})
	// 1.9s of wait and 2.3s of the second attempt exceed 4s together, but
	// neither attempt does (with room for a loaded machine).
	c := newTestClient(t, f.srv.URL, func(c *Config) { c.Timeout = 4 * time.Second })
	resp, err := c.Complete(context.Background(), testRequest())
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if resp.Content != "Paris." || f.attempts.Load() != 2 {
		t.Errorf("content %q after %d attempts", resp.Content, f.attempts.Load())
	}
}

func TestStreamTimeoutMidBody(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeSSE(w, messageStart(), blockStart(0), textDelta(0, "The capital"))
		<-r.Context().Done()
	})
	c := newTestClient(t, f.srv.URL, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	var deltas []string
	resp, err := c.Stream(context.Background(), testRequest(), func(d string) error {
		deltas = append(deltas, d)
		return nil
	})
	if resp != nil {
		t.Errorf("partial response: %+v", resp)
	}
	if len(deltas) != 1 {
		t.Errorf("deltas = %q, want the one sent before the stall", deltas)
	}
	asCloudError(t, err, 0)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 300ms") {
		t.Errorf("error = %v, want a timeout", err)
	}
	if got := f.attempts.Load(); got != 1 {
		t.Errorf("attempts = %d, want 1", got)
	}
}

func TestCallerCancel(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { <-r.Context().Done() })
	c := newTestClient(t, f.srv.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Stream(ctx, testRequest(), nil)
	asCloudError(t, err, 0)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "caller gave up") {
		t.Errorf("error = %v", err)
	}
}
