package openai

// The fake server here follows OpenAI's documented wire format for
// POST /v1/chat/completions (a JSON chat.completion object, or with
// "stream": true Server-Sent Events of chat.completion.chunk objects ended by
// "data: [DONE]"), for GET /v1/models, and for error bodies
// {"error":{"message","type","param","code"}}, because a paid API cannot be
// called here. It listens on 127.0.0.1 only (httptest).

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

const testKey = "sk-test-0123456789abcdefSECRET"

// fake is an OpenAI-compatible test server that counts attempts and keeps
// the last request.
type fake struct {
	srv      *httptest.Server
	attempts atomic.Int32
	mu       sync.Mutex
	lastBody map[string]any
	lastAuth string
	lastPath string
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
		f.lastBody, f.lastAuth, f.lastPath = m, r.Header.Get("Authorization"), r.URL.Path
		f.mu.Unlock()
		h(w, r, n)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) last() (map[string]any, string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastBody, f.lastAuth, f.lastPath
}

func newTestClient(t *testing.T, baseURL string, mut func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: baseURL + "/v1", Model: "gpt-test", APIKey: testKey, Timeout: 5 * time.Second, MaxRetries: 2}
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

// writeCompletion writes a chat.completion object.
func writeCompletion(w http.ResponseWriter, content string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-test-0613",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":%q,"refusal":null},"logprobs":null,"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`, content)
}

// writeError writes OpenAI's error body with the given status.
func writeError(w http.ResponseWriter, status int, msg, typ, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code}})
	_, _ = w.Write(b)
}

func chunk(delta string, finish string) string {
	fin := "null"
	if finish != "" {
		fin = fmt.Sprintf("%q", finish)
	}
	return fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-test-0613",`+
		`"choices":[{"index":0,"delta":{"content":%q},"logprobs":null,"finish_reason":%s}],"usage":null}`, delta, fin)
}

const roleChunk = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-test-0613",` +
	`"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}`

const usageChunk = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-test-0613",` +
	`"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`

// writeSSE sends each data line as one event, flushing after each.
func writeSSE(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl, _ := w.(http.Flusher)
	for _, e := range events {
		fmt.Fprintf(w, "data: %s\n\n", e)
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
	if ce.Provider != "openai" {
		t.Errorf("provider = %q, want openai", ce.Provider)
	}
	if ce.Status != status {
		t.Errorf("status = %d, want %d (err: %v)", ce.Status, status, err)
	}
	// Only "no answer", 429 and 5xx mean the provider is unavailable; a 4xx
	// is a rejection of the request itself.
	wantUnavailable := status == 0 || status == 429 || status >= 500
	if errors.Is(err, cloud.ErrUnavailable) != wantUnavailable {
		t.Errorf("errors.Is(err, cloud.ErrUnavailable) = %v, want %v: %v", !wantUnavailable, wantUnavailable, err)
	}
	if !strings.Contains(err.Error(), "openai") {
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
