package cloudtest

// Plumbing shared by the fake servers of each wire format
// (cloud/openai/openaitest, cloud/anthropic/anthropictest): what they
// record of the requests they receive, and how they write Server-Sent
// Events.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// Request is what a fake server received.
type Request struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
	// JSON is the body decoded, nil when it is not a JSON object.
	JSON map[string]any
}

// Stream says whether the request asked for a stream ("stream": true).
func (r *Request) Stream() bool { return r.JSON["stream"] == true }

// LastMessage is the text of the request's last message: its content when
// that is a string (OpenAI), or its text blocks joined (Anthropic).
func (r *Request) LastMessage() string {
	var req struct {
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if json.Unmarshal(r.Body, &req) != nil || len(req.Messages) == 0 {
		return ""
	}
	content := req.Messages[len(req.Messages)-1].Content
	var s string
	if json.Unmarshal(content, &s) == nil {
		return s
	}
	var blocks []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(content, &blocks)
	for _, b := range blocks {
		s += b.Text
	}
	return s
}

// Log records the requests a fake server receives. It is safe for
// concurrent use.
type Log struct {
	mu       sync.Mutex
	n        int // requests since the last Reset
	attempts int // answer calls since the last Reset
	requests []*Request
	calls    map[string]int // answer calls by last message, all time
}

// Record reads r's body (leaving it readable again) and records the
// request; attempt says it is an answer call. It returns the record, the
// request's number since the last Reset (from 1) and the answer calls since
// then, this one included.
func (l *Log) Record(r *http.Request, attempt bool) (req *Request, n, attempts int) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	req = &Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	_ = json.Unmarshal(body, &req.JSON)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	l.requests = append(l.requests, req)
	if attempt {
		l.attempts++
		if l.calls == nil {
			l.calls = map[string]int{}
		}
		l.calls[req.LastMessage()]++
	}
	return req, l.n, l.attempts
}

// Reset restarts the counts of Attempts and of Record's numbers.
func (l *Log) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n, l.attempts = 0, 0
}

// Attempts counts the answer calls since the last Reset.
func (l *Log) Attempts() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.attempts
}

// CallsFor counts the answer calls whose last message is q, all time.
func (l *Log) CallsFor(q string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[q]
}

// Requests returns every request received, in order.
func (l *Log) Requests() []*Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Request(nil), l.requests...)
}

// Last returns the last request received (nil before any).
func (l *Log) Last() *Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.requests) == 0 {
		return nil
	}
	return l.requests[len(l.requests)-1]
}

// SSE writes Server-Sent Events, flushing after each.
type SSE struct {
	w  http.ResponseWriter
	fl http.Flusher
}

// NewSSE sends the headers of an event stream, with status 200.
func NewSSE(w http.ResponseWriter) *SSE {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	s := &SSE{w: w, fl: fl}
	s.flush()
	return s
}

// Send sends one event: an "event: <event>" line unless event is empty,
// then "data: <data>".
func (s *SSE) Send(event, data string) {
	if event != "" {
		fmt.Fprintf(s.w, "event: %s\n", event)
	}
	fmt.Fprintf(s.w, "data: %s\n\n", data)
	s.flush()
}

func (s *SSE) flush() {
	if s.fl != nil {
		s.fl.Flush()
	}
}
