// Package anthropictest is the one fake Anthropic Messages API server for
// tests: no real key exists here, and a paid API is not to be called from
// tests. It follows Anthropic's documented wire format
// (https://docs.anthropic.com/en/api/messages):
//
//   - POST /v1/messages answers a "message" object; with "stream": true,
//     Server-Sent Events, each an "event: <type>" line and a "data: <json>"
//     line: message_start, content_block_start, ping, content_block_delta
//     with text_delta, content_block_stop, message_delta with stop_reason
//     and usage, message_stop, and error events
//     (https://docs.anthropic.com/en/api/messages-streaming);
//   - with Fault.ToolCalls, the answer ends with tool_use content blocks
//     ({"type":"tool_use","id","name","input"}) and stop_reason "tool_use";
//     streamed, each is a content_block_start with the tool_use block and
//     an empty input, content_block_delta events with input_json_delta
//     pieces (partial_json) of its input, and a content_block_stop
//     (https://docs.anthropic.com/en/docs/build-with-claude/tool-use,
//     https://docs.anthropic.com/en/api/messages-streaming);
//   - GET /v1/models answers a page of models
//     (https://docs.anthropic.com/en/api/models-list);
//   - errors are {"type":"error","error":{"type","message"},"request_id"}
//     with the HTTP status, 429 with retry-after, 529 overloaded_error
//     (https://docs.anthropic.com/en/api/errors).
//
// A test sets what the server does through a Fault and reads back what it
// received (Attempts, Requests, Last). It listens on 127.0.0.1 only
// (httptest).
package anthropictest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud/cloudtest"
	"github.com/edgecascade/edgecascade/models"
)

// Defaults of a Config.
const (
	DefaultModel            = "claude-test-20260101"
	DefaultPromptTokens     = 12
	DefaultCompletionTokens = 3
)

// DefaultPieces is the answer, in the text deltas a stream sends it in, when
// a Config sets none.
var DefaultPieces = []string{"The capital", " is", " Paris."}

// Config sets what the server answers when no fault is set.
type Config struct {
	// Model is the model the answers name and /v1/models lists
	// (DefaultModel when empty).
	Model string
	// Pieces is the answer: one text block, their concatenation; a stream
	// sends one text_delta per piece (DefaultPieces when empty).
	Pieces []string
	// StopReason is the stop_reason ("end_turn" when empty).
	StopReason string
	// PromptTokens (input_tokens) and CompletionTokens (output_tokens) are
	// the usage reported (the defaults when zero).
	PromptTokens, CompletionTokens int
	// Handler, when set, answers every request itself, faults aside; n is
	// the request's number since the last Set, from 1. The request is
	// recorded first (its body can be read again).
	Handler func(w http.ResponseWriter, r *http.Request, n int)
}

// Fault is a misbehaviour. The zero Fault answers normally. Refuse and
// EchoHeaders apply to every route; the others to /v1/messages, and to GET
// /v1/models too when Models is set.
type Fault struct {
	// Pieces and StopReason, when set, replace the Config's answer.
	Pieces     []string
	StopReason string
	// ToolCalls, when set, end the answer with these tool_use blocks
	// (stop_reason "tool_use" unless StopReason says otherwise).
	ToolCalls []models.ToolCall
	// Refuse closes every connection without an answer (unreachable).
	Refuse bool
	// Hang accepts the request and never answers (until the client gives
	// up or the server closes).
	Hang bool
	// Status answers with this HTTP error status and Anthropic's error body
	// (Type and Message; defaults by status).
	Status        int
	Type, Message string
	// RetryAfter is the retry-after header sent with Status.
	RetryAfter string
	// Models applies Status and Hang to GET /v1/models too.
	Models bool
	// Cut drops the connection mid-answer: a stream after the first text
	// delta (no message_stop), a complete answer halfway through its body.
	Cut bool
	// Malformed sends invalid JSON mid-answer: a stream after the first
	// text delta, a complete answer as a cut body.
	Malformed bool
	// ErrorEvent ends a stream after the first text delta with an error
	// event (overloaded_error by default).
	ErrorEvent bool
	// Stall begins the answer, then sends nothing more until the client
	// gives up: a stream after the first text delta, a complete answer
	// after its headers.
	Stall bool
	// Gap is the wait between streamed text deltas.
	Gap time.Duration
	// EchoHeaders fails every request with 400, its message echoing the
	// request line and headers (API key included), or when ErrorEvent or
	// Malformed is set, puts the echo in that event.
	EchoHeaders bool
}

// Request is what the server received.
type Request = cloudtest.Request

// Server is a fake Anthropic API. It is safe for concurrent use. Its Log
// counts the /v1/messages requests as attempts and keeps every request
// (Requests, Last).
type Server struct {
	*httptest.Server
	cloudtest.Log
	cfg Config

	mu    sync.Mutex
	fault Fault
}

// New starts a server, closed when the test ends. URL is the base URL the
// provider takes (requests go to URL/v1/...).
func New(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Model == "" {
		cfg.Model = DefaultModel
	}
	if len(cfg.Pieces) == 0 {
		cfg.Pieces = DefaultPieces
	}
	if cfg.StopReason == "" {
		cfg.StopReason = "end_turn"
	}
	if cfg.PromptTokens == 0 && cfg.CompletionTokens == 0 {
		cfg.PromptTokens, cfg.CompletionTokens = DefaultPromptTokens, DefaultCompletionTokens
	}
	s := &Server{cfg: cfg}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Set chooses the fault of the next requests and resets the counts of
// Attempts and of Config.Handler's n.
func (s *Server) Set(f Fault) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
	s.Reset()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	messages := r.Method == http.MethodPost && r.URL.Path == "/v1/messages"
	s.mu.Lock()
	f := s.fault
	s.mu.Unlock()
	req, n, _ := s.Record(r, messages && !f.Refuse)

	if s.cfg.Handler != nil {
		s.cfg.Handler(w, r, n)
		return
	}
	if f.Refuse {
		cloudtest.Refuse(w)
		return
	}
	if f.EchoHeaders {
		f.Message = cloudtest.Echo(r)
		if !f.ErrorEvent && !f.Malformed {
			WriteError(w, http.StatusBadRequest, "invalid_request_error", f.Message)
			return
		}
	}
	models := r.Method == http.MethodGet && r.URL.Path == "/v1/models"
	if !messages && !models {
		WriteError(w, http.StatusNotFound, "not_found_error", "no such route")
		return
	}
	switch {
	case models && !f.Models:
		s.writeModels(w)
		return
	case f.Hang:
		<-r.Context().Done()
		return
	case f.Status != 0:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		typ, msg := errorBody(f)
		WriteError(w, f.Status, typ, msg)
		return
	case models:
		s.writeModels(w)
		return
	}
	if req.JSON == nil {
		WriteError(w, http.StatusBadRequest, "invalid_request_error", "bad json")
		return
	}
	if req.Stream() {
		s.stream(w, r, f)
		return
	}
	pieces, stop := s.answer(f)
	body2 := Message(s.cfg.Model, strings.Join(pieces, ""), stop, s.cfg.PromptTokens, s.cfg.CompletionTokens)
	if len(f.ToolCalls) > 0 {
		body2 = ToolUseMessage(s.cfg.Model, strings.Join(pieces, ""), f.ToolCalls, stop, s.cfg.PromptTokens, s.cfg.CompletionTokens)
	}
	switch {
	case f.Cut:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(body2)))
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, body2[:len(body2)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	case f.Malformed:
		body2 = body2[:len(body2)/2] + `}`
	case f.Stall:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	}
	writeJSON(w, http.StatusOK, "req_011test", body2)
}

// answer is the fault's answer, else the Config's.
func (s *Server) answer(f Fault) (pieces []string, stopReason string) {
	pieces, stopReason = s.cfg.Pieces, s.cfg.StopReason
	if len(f.Pieces) > 0 {
		pieces = f.Pieces
	}
	switch {
	case f.StopReason != "":
		stopReason = f.StopReason
	case len(f.ToolCalls) > 0:
		stopReason = "tool_use"
	}
	return pieces, stopReason
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, f Fault) {
	pieces, stop := s.answer(f)
	w.Header().Set("request-id", "req_011stream")
	sse := cloudtest.NewSSE(w)
	send := func(e Event) { sse.Send(e.Type, e.Data) }
	send(MessageStart(s.cfg.Model, s.cfg.PromptTokens))
	send(BlockStart(0))
	send(Ping())
	for i, p := range pieces {
		send(TextDelta(0, p))
		if i == 0 {
			switch {
			case f.Cut:
				panic(http.ErrAbortHandler) // the connection drops: no message_stop
			case f.Malformed:
				bad := `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`
				if f.EchoHeaders {
					bad = fmt.Sprintf(`{"type": %q`, f.Message)
				}
				send(Event{"content_block_delta", bad})
			case f.ErrorEvent:
				typ, msg := f.Type, f.Message
				if typ == "" {
					typ = "overloaded_error"
				}
				if msg == "" {
					msg = "Overloaded"
				}
				send(ErrorEvent(typ, msg))
				return
			case f.Stall:
				<-r.Context().Done()
				return
			}
		}
		if f.Gap > 0 && i < len(pieces)-1 {
			time.Sleep(f.Gap)
		}
	}
	send(BlockStop(0))
	for i, c := range f.ToolCalls {
		for _, e := range ToolUseEvents(i+1, c) {
			send(e)
		}
	}
	send(MessageDelta(stop, s.cfg.CompletionTokens))
	send(MessageStop())
}

func (s *Server) writeModels(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, "req_011models", fmt.Sprintf(`{"data":[{"type":"model","id":%q,"display_name":"Claude Test",`+
		`"created_at":"2026-01-01T00:00:00Z"}],"has_more":false,"first_id":%q,"last_id":%q}`, s.cfg.Model, s.cfg.Model, s.cfg.Model))
}

// errorBody fills in Anthropic's error type and message for a status.
func errorBody(f Fault) (typ, msg string) {
	typ, msg = f.Type, f.Message
	var dt, dm string
	switch f.Status {
	case http.StatusUnauthorized:
		dt, dm = "authentication_error", "invalid x-api-key"
	case http.StatusForbidden:
		dt, dm = "permission_error", "permission denied"
	case http.StatusNotFound:
		dt, dm = "not_found_error", "model not found"
	case http.StatusTooManyRequests:
		dt, dm = "rate_limit_error", "rate limited"
	case 529:
		dt, dm = "overloaded_error", "Overloaded"
	default:
		dt, dm = "invalid_request_error", strings.ToLower(http.StatusText(f.Status))
		if f.Status >= 500 {
			dt, dm = "api_error", "Internal server error"
		}
	}
	if typ == "" {
		typ = dt
	}
	if msg == "" {
		msg = dm
	}
	return typ, msg
}
