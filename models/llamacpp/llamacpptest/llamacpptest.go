// Package llamacpptest is the one fake llama-server (llama.cpp's HTTP
// server, which cannot be built here) for tests: each route answers with a
// fixed status, content type and body written in llama-server's documented
// shape by the test, and the request bodies are kept for assertions.
package llamacpptest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Route is one answer: the status, the content type (JSON when empty) and
// the body.
type Route struct {
	Status      int
	ContentType string
	Body        string
}

// notFound is llama-server's answer to an unknown route.
// (tools/server/server-http.cpp, set_error_handler for 404).
const notFound = `{"error":{"message":"File Not Found","type":"not_found_error","code":404}}`

// Server is a running fake llama-server.
type Server struct {
	*httptest.Server
	mu     sync.Mutex
	bodies map[string][][]byte // by "METHOD /path", in order
}

// New serves routes, keyed by "METHOD /path"; any other route gets
// llama-server's 404. The server stops when the test ends.
func New(t testing.TB, routes map[string]Route) *Server {
	t.Helper()
	s := &Server{bodies: map[string][][]byte{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		key := r.Method + " " + r.URL.Path
		s.mu.Lock()
		s.bodies[key] = append(s.bodies[key], b)
		s.mu.Unlock()
		rt, ok := routes[key]
		if !ok {
			rt = Route{Status: http.StatusNotFound, Body: notFound}
		}
		ct := rt.ContentType
		if ct == "" {
			ct = "application/json; charset=utf-8"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(rt.Status)
		_, _ = io.WriteString(w, rt.Body)
	}))
	t.Cleanup(s.Close)
	return s
}

// Body is the last request body of key, decoded as a JSON object.
func (s *Server) Body(t testing.TB, key string) map[string]any {
	t.Helper()
	bodies := s.Bodies(t, key)
	if len(bodies) == 0 {
		t.Fatalf("no request to %s", key)
	}
	return bodies[len(bodies)-1]
}

// Bodies are every request body of key, in order, decoded as JSON objects.
func (s *Server) Bodies(t testing.TB, key string) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, 0, len(s.bodies[key]))
	for _, b := range s.bodies[key] {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("request body of %s: %v (%q)", key, err, b)
		}
		out = append(out, m)
	}
	return out
}
