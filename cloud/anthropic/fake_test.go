package anthropic

// The fake server here follows Anthropic's documented wire format, because no
// real API key exists here (and a paid API is not to be called from tests):
// POST /v1/messages answers a JSON "message" object, or with "stream": true
// Server-Sent Events, each an "event: <type>" line and a "data: <json>" line
// (message_start, content_block_start, content_block_delta with text_delta,
// content_block_stop, message_delta with stop_reason and usage, message_stop,
// ping, and error events); GET /v1/models answers a page of models; errors
// are {"type":"error","error":{"type","message"},"request_id"}. It listens on
// 127.0.0.1 only (httptest).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
)

const testKey = "sk-ant-api03-test-0123456789abcdefSECRET"

// fake is an Anthropic-compatible test server that counts attempts and keeps
// the last request.
type fake struct {
	srv      *httptest.Server
	attempts atomic.Int32
	mu       sync.Mutex
	last     recorded
}

// recorded is what the fake saw of one request.
type recorded struct {
	body   map[string]any
	header http.Header
	path   string
	query  string
}

// handler answers one attempt; n is the attempt number, from 1.
type handler func(w http.ResponseWriter, r *http.Request, n int)

func newFake(t *testing.T, h handler) *fake {
	t.Helper()
	f := &fake{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(f.attempts.Add(1))
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		f.mu.Lock()
		f.last = recorded{body: m, header: r.Header.Clone(), path: r.URL.Path, query: r.URL.RawQuery}
		f.mu.Unlock()
		h(w, r, n)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) lastRequest() recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func newTestClient(t *testing.T, baseURL string, mut func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: baseURL, Model: "claude-test", APIKey: testKey, Timeout: 5 * time.Second, MaxRetries: 2}
	if mut != nil {
		mut(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func testRequest() cloud.Request {
	temp := 0.0
	return cloud.Request{
		Messages: []models.Message{
			{Role: "system", Content: "Be brief."},
			{Role: "user", Content: "Capital of France?"},
		},
		MaxTokens:   64,
		Temperature: &temp,
	}
}

// writeMessage writes a "message" object with one text block.
func writeMessage(w http.ResponseWriter, text, stopReason string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "req_011test")
	fmt.Fprintf(w, `{"id":"msg_01test","type":"message","role":"assistant","model":"claude-test-20260101",`+
		`"content":[{"type":"text","text":%q,"citations":null}],"stop_reason":%q,"stop_sequence":null,`+
		`"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":3}}`,
		text, stopReason)
}

// writeError writes Anthropic's error body with the given status.
func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "req_011err")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{
		"type":       "error",
		"error":      map[string]any{"type": typ, "message": msg},
		"request_id": "req_011err",
	})
	_, _ = w.Write(b)
}

// sse is one Server-Sent Event.
type sse struct{ event, data string }

func messageStart() sse {
	return sse{"message_start", `{"type":"message_start","message":{"id":"msg_01test","type":"message","role":"assistant",` +
		`"content":[],"model":"claude-test-20260101","stop_reason":null,"stop_sequence":null,` +
		`"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}`}
}

func blockStart(i int) sse {
	return sse{"content_block_start", fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"text","text":""}}`, i)}
}

func textDelta(i int, text string) sse {
	return sse{"content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":%q}}`, i, text)}
}

func blockStop(i int) sse {
	return sse{"content_block_stop", fmt.Sprintf(`{"type":"content_block_stop","index":%d}`, i)}
}

func messageDelta(stopReason string, outputTokens int) sse {
	return sse{"message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%q,"stop_sequence":null},"usage":{"output_tokens":%d}}`,
		stopReason, outputTokens)}
}

func messageStop() sse { return sse{"message_stop", `{"type":"message_stop"}`} }

func ping() sse { return sse{"ping", `{"type": "ping"}`} }

func errorEvent(typ, msg string) sse {
	return sse{"error", fmt.Sprintf(`{"type":"error","error":{"type":%q,"message":%q}}`, typ, msg)}
}

// fullStream is a complete answer "The capital is Paris." in three deltas.
func fullStream() []sse {
	return []sse{messageStart(), blockStart(0), ping(), textDelta(0, "The capital"), textDelta(0, " is"),
		textDelta(0, " Paris."), blockStop(0), messageDelta("end_turn", 7), messageStop()}
}

// writeSSE sends the events, flushing after each.
func writeSSE(w http.ResponseWriter, events ...sse) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("request-id", "req_011stream")
	fl, _ := w.(http.Flusher)
	for _, e := range events {
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.event, e.data)
		if fl != nil {
			fl.Flush()
		}
	}
}

// refusedURL returns a 127.0.0.1 URL where nothing listens.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

// asCloudError checks err is a *cloud.Error from this provider with status.
func asCloudError(t *testing.T, err error, status int) *cloud.Error {
	t.Helper()
	if err == nil {
		t.Fatal("want error, got nil")
	}
	var ce *cloud.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *cloud.Error, got %T: %v", err, err)
	}
	if ce.Provider != "anthropic" {
		t.Errorf("provider = %q, want anthropic", ce.Provider)
	}
	if ce.Status != status {
		t.Errorf("status = %d, want %d (err: %v)", ce.Status, status, err)
	}
	// Only "no answer", 429 and 5xx (529 included) mean the provider is
	// unavailable; a 4xx is a rejection of the request itself.
	wantUnavailable := status == 0 || status == 429 || status >= 500
	if errors.Is(err, cloud.ErrUnavailable) != wantUnavailable {
		t.Errorf("errors.Is(err, cloud.ErrUnavailable) = %v, want %v: %v", !wantUnavailable, wantUnavailable, err)
	}
	if !strings.Contains(err.Error(), "anthropic") {
		t.Errorf("message does not name the provider: %v", err)
	}
	if status != 0 && !strings.Contains(err.Error(), fmt.Sprint(status)) {
		t.Errorf("message does not name the status: %v", err)
	}
	return ce
}

// noKey fails if the API key appears in err's message or anywhere in its
// chain.
func noKey(t *testing.T, err error) {
	t.Helper()
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if strings.Contains(e.Error(), testKey) {
			t.Errorf("API key in error message: %q", e.Error())
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
}
