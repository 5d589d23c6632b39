package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/edgecascade/edgecascade/models"
)

// logBuffer collects JSON log lines; safe for the server's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// requests returns the request log lines, decoded.
func (l *logBuffer) requests(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

func (l *logBuffer) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

// TestRequestLog (issue 14, item 14): every request gives one request log
// line, with the same fields and level on both APIs for the same outcome:
// the local model down under policy local (503, before the first frame of
// a stream: once not logged at all on /api), bad JSON (400), a stream cut
// after its first frame, and an answer.
func TestRequestLog(t *testing.T) {
	local := fakeLocal()
	local.ChatStreamFunc = func(ctx context.Context, req models.Request, fn models.ChunkFunc) (*models.Response, error) {
		switch req.Messages[len(req.Messages)-1].Content {
		case "down":
			return nil, fmt.Errorf("fake: %w", models.ErrUnavailable)
		case "cut":
			if err := fn(models.Chunk{Content: "local"}); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("fake: connection reset: %w", models.ErrUnavailable)
		}
		resp := local.Answer
		if err := fn(models.Chunk{Content: resp.Content, Tokens: resp.Tokens}); err != nil {
			return nil, err
		}
		return &resp, nil
	}
	local.ChatFunc = func(ctx context.Context, req models.Request) (*models.Response, error) {
		if req.Messages[len(req.Messages)-1].Content == "down" {
			return nil, fmt.Errorf("fake: %w", models.ErrUnavailable)
		}
		resp := local.Answer
		return &resp, nil
	}
	logs := &logBuffer{}
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, local: local,
		log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	body := func(path, model, content string, stream bool) string {
		return fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":%q}]}`, model, stream, content)
	}
	always := []string{"method", "path", "api", "policy", "status", "route", "escalated", "deferred", "latency_ms"}
	for _, tc := range []struct {
		name, model, content string
		bad                  bool
		level                string
		status               float64
		failed               bool
	}{
		{name: "local model down", model: "local", content: "down", level: "WARN", status: 503, failed: true},
		{name: "bad JSON", bad: true, level: "INFO", status: 400, failed: true},
		{name: "answered", model: "local", content: "hi", level: "INFO", status: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sets [][]string
			for _, path := range []string{"/v1/chat/completions", "/api/chat"} {
				for _, stream := range []bool{false, true} {
					logs.reset()
					b := body(path, tc.model, tc.content, stream)
					if tc.bad {
						b = `{"model":`
					}
					resp, raw := post(t, d.URL+path, b)
					if float64(resp.StatusCode) != tc.status {
						t.Fatalf("%s stream=%v: status %d, want %v: %s", path, stream, resp.StatusCode, tc.status, raw)
					}
					lines := logs.requests(t)
					if len(lines) != 1 {
						t.Fatalf("%s stream=%v: %d request log lines, want 1: %v", path, stream, len(lines), lines)
					}
					l := lines[0]
					for _, k := range always {
						if _, ok := l[k]; !ok {
							t.Fatalf("%s stream=%v: no %s in %v", path, stream, k, l)
						}
					}
					if _, ok := l["error"]; ok != tc.failed {
						t.Fatalf("%s stream=%v: error field %v, want %v: %v", path, stream, ok, tc.failed, l)
					}
					if l["level"] != tc.level || l["status"] != tc.status || l["path"] != path || l["method"] != "POST" {
						t.Fatalf("%s stream=%v: %v", path, stream, l)
					}
					keys := slices.Sorted(maps.Keys(l))
					keys = slices.DeleteFunc(keys, func(k string) bool { return k == "time" })
					sets = append(sets, keys)
				}
			}
			for _, s := range sets[1:] {
				if !slices.Equal(s, sets[0]) {
					t.Fatalf("field sets differ: %v and %v", sets[0], s)
				}
			}
		})
	}
	t.Run("cut after the first frame", func(t *testing.T) {
		for _, path := range []string{"/v1/chat/completions", "/api/chat"} {
			logs.reset()
			resp, raw := post(t, d.URL+path, body(path, "local", "cut", true))
			if resp.StatusCode != 200 {
				t.Fatalf("%s: status %d: %s", path, resp.StatusCode, raw)
			}
			lines := logs.requests(t)
			if len(lines) != 1 || lines[0]["level"] != "WARN" || lines[0]["error"] == nil || lines[0]["status"] != 200.0 {
				t.Fatalf("%s: %v", path, lines)
			}
		}
	})
}
