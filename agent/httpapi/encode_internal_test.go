package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWriteJSONEncodeError: a value that cannot be encoded is a 500 in the
// error shape of its API (OpenAI's on /v1, Ollama's {"error"} under /api/),
// logged, whatever status was asked for; never that status with an empty
// body.
func TestWriteJSONEncodeError(t *testing.T) {
	for _, path := range []string{"/v1/chat/completions", "/api/chat", "/healthz"} {
		t.Run(path, func(t *testing.T) {
			var logs bytes.Buffer
			s := NewServer(nil, ServerConfig{}, slog.New(slog.NewTextHandler(&logs, nil)))
			rec := httptest.NewRecorder()
			rec.Header().Set("X-Cascade-Route", "local")
			s.writeJSON(rec, httptest.NewRequest("POST", path, nil), http.StatusOK, map[string]any{"confidence": math.NaN()})
			if rec.Code != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500: %q", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if rec.Header().Get("X-Cascade-Route") != "" {
				t.Fatal("a failed answer keeps its X-Cascade-Route")
			}
			var oai apiError
			var oll struct {
				Error string `json:"error"`
			}
			if strings.HasPrefix(path, "/api/") {
				if err := json.Unmarshal(rec.Body.Bytes(), &oll); err != nil || !strings.Contains(oll.Error, "encode") {
					t.Fatalf("not the Ollama error shape: %q", rec.Body)
				}
			} else if err := json.Unmarshal(rec.Body.Bytes(), &oai); err != nil || oai.Error.Code != "internal_error" || oai.Error.Type != "server_error" {
				t.Fatalf("not the OpenAI error shape: %q", rec.Body)
			}
			if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "NaN") || !strings.Contains(l, path) {
				t.Fatalf("not logged: %q", l)
			}
		})
	}
}
