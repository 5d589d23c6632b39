// Package openaitest is the one fake OpenAI-compatible server for tests: a
// paid API cannot be called from them. It follows OpenAI's documented wire
// format (https://platform.openai.com/docs/api-reference/chat):
//
//   - POST /v1/chat/completions answers a chat.completion object; with
//     "stream": true, Server-Sent Events ("data: <json>" lines) of
//     chat.completion.chunk objects, a last chunk with empty choices and the
//     usage (stream_options.include_usage), ended by "data: [DONE]"
//     (https://platform.openai.com/docs/api-reference/chat-streaming);
//   - with Fault.ToolCalls, the answer ends with function tool calls:
//     choices[].message.tool_calls (content null when there is no text), or
//     streamed as choices[].delta.tool_calls, the first delta of each call
//     with its index, id, type and function name and empty arguments, the
//     next ones with its index and a piece of its arguments; the finish
//     reason is "tool_calls"
//     (https://platform.openai.com/docs/guides/function-calling, "Streaming");
//   - GET /v1/models answers a list of model objects
//     (https://platform.openai.com/docs/api-reference/models/list);
//   - errors are {"error":{"message","type","param","code"}} with the HTTP
//     status, 429 with Retry-After
//     (https://platform.openai.com/docs/guides/error-codes).
//
// A test sets what the server does through a Fault (refuse, hang, status
// codes, cut or malformed answers, slow or stalled streams, echoed headers)
// and reads back what it received (Attempts, CallsFor, Requests, Last,
// Arrived). It listens on 127.0.0.1 only (httptest).
package openaitest

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
	DefaultModel = "gpt-test"
	// DefaultPromptTokens and DefaultCompletionTokens are the usage answers
	// report.
	DefaultPromptTokens     = 12
	DefaultCompletionTokens = 3
)

// DefaultPieces is the answer, in the pieces a stream sends it in, when a
// Config sets none.
var DefaultPieces = []string{"The capital", " is", " Paris."}

// Config sets what the server answers when no fault is set.
type Config struct {
	// Model is the model the answers name and /v1/models lists
	// (DefaultModel when empty).
	Model string
	// Pieces is the answer: a complete answer is their concatenation, a
	// stream sends one chunk per piece (DefaultPieces when empty).
	Pieces []string
	// Answer, when set, gives the pieces per request instead of Pieces.
	Answer func(r *Request) []string
	// Finish is the finish reason ("stop" when empty).
	Finish string
	// PromptTokens and CompletionTokens are the usage reported (the
	// defaults when zero).
	PromptTokens, CompletionTokens int
	// Key, when set, is the only API key accepted: a request without
	// "Authorization: Bearer <Key>" is answered 401 invalid_api_key.
	Key string
	// Handler, when set, answers every request itself, faults aside; n is
	// the request's number since the last Set, from 1. The server still
	// records the request first (its body can be read again).
	Handler func(w http.ResponseWriter, r *http.Request, n int)
}

// Fault is a misbehaviour. The zero Fault answers normally. Refuse, Key
// and EchoHeaders apply to every route; the others to chat completions, and
// to GET /v1/models too when Models is set.
type Fault struct {
	// Pieces and Finish, when set, replace the Config's answer.
	Pieces []string
	Finish string
	// ToolCalls, when set, end the answer with these tool calls (finish
	// reason "tool_calls" unless Finish says otherwise).
	ToolCalls []models.ToolCall
	// Refuse closes every connection without an answer (unreachable).
	Refuse bool
	// Hang accepts the request and never answers (until the client gives
	// up or Release).
	Hang bool
	// Hold waits until Release (or the client gives up), then answers.
	Hold bool
	// Delay waits this long before answering; a client that gives up
	// first gets nothing.
	Delay time.Duration
	// Status answers with this HTTP error status and OpenAI's error body
	// (Message, Type, Code; defaults by status).
	Status              int
	Message, Type, Code string
	// RetryAfter is the Retry-After header sent with Status.
	RetryAfter string
	// Times limits Status to the first Times attempts since Set; 0: every
	// attempt.
	Times int
	// Models applies Status and Hang to GET /v1/models too.
	Models bool
	// Cut drops the connection mid-answer: a stream after the first piece
	// (no [DONE]), a complete answer halfway through its body.
	Cut bool
	// Malformed sends invalid JSON mid-answer: a stream after the first
	// piece (then the rest and [DONE]), a complete answer as a cut body.
	Malformed bool
	// ErrorEvent ends a stream after the first piece with an error chunk
	// {"error":{...}} (Message, Type; a server error by default).
	ErrorEvent bool
	// Stall begins the answer, then sends nothing more (until the client
	// gives up or Release): a stream after the first piece, a complete
	// answer after its headers.
	Stall bool
	// Gap is the wait between streamed pieces (a slow stream); a complete
	// answer waits Gap per piece before it is sent.
	Gap time.Duration
	// EchoHeaders fails every request with 400, its message echoing the
	// request line and headers (API key included), or when ErrorEvent or
	// Malformed is set, puts that echo in the stream's error chunk or bad
	// chunk: the worst case of a server that leaks what it was sent.
	EchoHeaders bool
}

// Request is what the server received.
type Request = cloudtest.Request

// Server is a fake OpenAI-compatible API. It is safe for concurrent use.
// Its Log counts the chat completion requests as attempts (Attempts,
// CallsFor) and keeps every request (Requests, Last).
type Server struct {
	*httptest.Server
	cloudtest.Log
	cfg     Config
	arrived chan *Request

	mu      sync.Mutex
	fault   Fault
	release chan struct{}
}

// New starts a server; it is closed (held requests released first) when
// the test ends. URL is its root: the API base URL is URL+"/v1".
func New(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Model == "" {
		cfg.Model = DefaultModel
	}
	if len(cfg.Pieces) == 0 {
		cfg.Pieces = DefaultPieces
	}
	if cfg.Finish == "" {
		cfg.Finish = "stop"
	}
	if cfg.PromptTokens == 0 && cfg.CompletionTokens == 0 {
		cfg.PromptTokens, cfg.CompletionTokens = DefaultPromptTokens, DefaultCompletionTokens
	}
	s := &Server{cfg: cfg, arrived: make(chan *Request, 256), release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Release()
		s.Close()
	})
	return s
}

// BaseURL is the API's base URL, URL+"/v1".
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Set chooses the fault of the next requests and resets the counts of
// Attempts and of Config.Handler's n. It does not release held requests.
func (s *Server) Set(f Fault) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
	s.Reset()
}

// Release lets held, hanging and stalled requests go on (held ones answer,
// the others end); it stays released until the server closes.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.release:
	default:
		close(s.release)
	}
}

// Arrived receives each chat completion request as it arrives, before it
// is answered (when its buffer of 256 has room).
func (s *Server) Arrived() <-chan *Request { return s.arrived }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	chat := r.Method == http.MethodPost && r.URL.Path == "/v1/chat/completions"
	s.mu.Lock()
	f, release := s.fault, s.release
	s.mu.Unlock()
	req, n, attempt := s.Record(r, chat && !f.Refuse)

	if s.cfg.Handler != nil {
		s.cfg.Handler(w, r, n)
		return
	}
	if f.Refuse {
		cloudtest.Refuse(w)
		return
	}
	if s.cfg.Key != "" && r.Header.Get("Authorization") != "Bearer "+s.cfg.Key {
		WriteError(w, http.StatusUnauthorized, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
		return
	}
	if f.EchoHeaders {
		f.Message = cloudtest.Echo(r)
		if !f.ErrorEvent && !f.Malformed {
			WriteError(w, http.StatusBadRequest, f.Message, "invalid_request_error", "echo")
			return
		}
	}
	models := r.Method == http.MethodGet && r.URL.Path == "/v1/models"
	if !chat && !models {
		WriteError(w, http.StatusNotFound, "no such route", "invalid_request_error", "")
		return
	}
	if models && !f.Models {
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"object":"list","data":[{"id":%q,"object":"model","created":0,"owned_by":"openaitest"}]}`, s.cfg.Model))
		return
	}
	if chat {
		select {
		case s.arrived <- req:
		default:
		}
	}
	wait := func() bool { // false when the client gave up
		select {
		case <-r.Context().Done():
			return false
		case <-release:
			return true
		}
	}
	switch {
	case f.Hang:
		wait()
		return
	case f.Status != 0 && (f.Times == 0 || attempt <= f.Times):
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		msg, typ, code := errorBody(f)
		WriteError(w, f.Status, msg, typ, code)
		return
	case models:
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"object":"list","data":[{"id":%q,"object":"model","created":0,"owned_by":"openaitest"}]}`, s.cfg.Model))
		return
	}
	if req.JSON == nil {
		WriteError(w, http.StatusBadRequest, "bad json", "invalid_request_error", "")
		return
	}
	if f.Hold && !wait() {
		return
	}
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return
		}
	}
	pieces := s.cfg.Pieces
	switch {
	case len(f.Pieces) > 0:
		pieces = f.Pieces
	case s.cfg.Answer != nil:
		pieces = s.cfg.Answer(req)
	}
	if req.Stream() {
		s.stream(w, f, pieces, wait)
		return
	}
	s.complete(w, f, pieces, wait)
}

// finish is the fault's finish reason, else the Config's.
func (s *Server) finish(f Fault) string {
	switch {
	case f.Finish != "":
		return f.Finish
	case len(f.ToolCalls) > 0:
		return "tool_calls"
	}
	return s.cfg.Finish
}

func (s *Server) complete(w http.ResponseWriter, f Fault, pieces []string, wait func() bool) {
	body := Completion(s.cfg.Model, strings.Join(pieces, ""), s.finish(f), s.cfg.PromptTokens, s.cfg.CompletionTokens)
	if len(f.ToolCalls) > 0 {
		body = ToolCallCompletion(s.cfg.Model, strings.Join(pieces, ""), f.ToolCalls, s.finish(f), s.cfg.PromptTokens, s.cfg.CompletionTokens)
	}
	switch {
	case f.Cut: // the connection drops after part of the body
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, body[:len(body)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	case f.Malformed:
		writeJSON(w, http.StatusOK, body[:len(body)/2]+`}`)
		return
	case f.Stall: // headers, then nothing
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		wait()
		return
	case f.Gap > 0:
		time.Sleep(time.Duration(len(pieces)) * f.Gap)
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) stream(w http.ResponseWriter, f Fault, pieces []string, wait func() bool) {
	sse := cloudtest.NewSSE(w)
	sse.Send("", RoleChunk(s.cfg.Model))
	for i, p := range pieces {
		sse.Send("", Chunk(s.cfg.Model, p, ""))
		if i == 0 {
			switch {
			case f.Cut:
				panic(http.ErrAbortHandler) // the connection drops: no [DONE]
			case f.Malformed:
				bad := `{"id":"chatcmpl-fake","choices":[{"delta":{"content":`
				if f.EchoHeaders {
					bad = fmt.Sprintf(`{"choices": %q`, f.Message)
				}
				sse.Send("", bad)
			case f.ErrorEvent:
				msg, typ, code := errorBody(Fault{Status: http.StatusInternalServerError, Message: f.Message, Type: f.Type, Code: f.Code})
				sse.Send("", ErrorJSON(msg, typ, code))
				return
			case f.Stall:
				wait()
				return
			}
		}
		if f.Gap > 0 && i < len(pieces)-1 {
			time.Sleep(f.Gap)
		}
	}
	for _, c := range ToolCallChunks(s.cfg.Model, f.ToolCalls) {
		sse.Send("", c)
	}
	sse.Send("", Chunk(s.cfg.Model, "", s.finish(f)))
	sse.Send("", UsageChunk(s.cfg.Model, s.cfg.PromptTokens, s.cfg.CompletionTokens))
	sse.Send("", "[DONE]")
}

// errorBody fills in OpenAI's message, type and code for a status.
func errorBody(f Fault) (msg, typ, code string) {
	msg, typ, code = f.Message, f.Type, f.Code
	def := func(m, t, c string) {
		if msg == "" {
			msg = m
		}
		if typ == "" {
			typ = t
		}
		if code == "" {
			code = c
		}
	}
	switch {
	case f.Status == http.StatusTooManyRequests:
		def("Rate limit reached for requests", "requests", "rate_limit_exceeded")
	case f.Status == http.StatusUnauthorized:
		def("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
	case f.Status >= 500:
		def("The server had an error while processing your request.", "server_error", "")
	default:
		def(strings.ToLower(http.StatusText(f.Status)), "invalid_request_error", "")
	}
	return msg, typ, code
}
