package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/edgecascade/edgecascade/agent/cascade"
)

// The request log: one line per request (message "request"), written when
// the handler returns, with the same fields on every route of both APIs:
//
//	method, path, api (openai, ollama, cascade, daemon), policy ("" before
//	it is known), status (as sent), route, escalated, deferred, latency_ms,
//	and, when a decision was made, reason, confidence (when scored),
//	local_ms, cloud_ms; error when the request failed (a stream that failed
//	after its first frame has status 200 and an error).
//
// Level: WARN when the failure is a 5xx (for a stream cut after its first
// frame, the status its error would have had); INFO for other failures (4xx)
// and for answers (requests that carry a policy); DEBUG for the other
// successful requests (/healthz, /metrics, lists, lookups, events,
// profiles), which scrapers and probes repeat.

// requestInfo is what the handlers tell the request log.
type requestInfo struct {
	policy cascade.Policy
	res    *cascade.Result
	err    error
}

type requestInfoKey struct{}

// info returns the request's record (a throwaway when there is none, for a
// handler called outside Handler).
func info(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// noteError records err as the request's failure (the first one wins).
func noteError(ctx context.Context, err error) {
	if ri := info(ctx); ri.err == nil {
		ri.err = err
	}
}

// statusWriter records the status sent.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// apiOf names the API a path belongs to.
func apiOf(path string) string {
	switch {
	case ollamaPath(path):
		return "ollama"
	case strings.HasPrefix(path, "/v1/cascade/"):
		return "cascade"
	case strings.HasPrefix(path, "/v1/"):
		return "openai"
	}
	return "daemon"
}

// requestLog writes the request log line of every request.
func (s *Server) requestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		ri := &requestInfo{}
		sw := &statusWriter{ResponseWriter: w}
		defer func() { s.logRequest(r, ri, sw.status, s.now().Sub(start)) }()
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri)))
	})
}

func (s *Server) logRequest(r *http.Request, ri *requestInfo, status int, latency time.Duration) {
	if status == 0 {
		status = http.StatusOK // nothing written: net/http sends 200
	}
	var d cascade.Decision
	if ri.res != nil {
		d = ri.res.Decision
	}
	var de *cascade.DeferredError
	deferred := d.Deferred || errors.As(ri.err, &de)
	attrs := []slog.Attr{
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("api", apiOf(r.URL.Path)),
		slog.String("policy", string(ri.policy)), slog.Int("status", status), slog.String("route", d.Route),
		slog.Bool("escalated", d.Escalated), slog.Bool("deferred", deferred),
		slog.Float64("latency_ms", float64(latency.Microseconds())/1000),
	}
	if ri.res != nil {
		attrs = append(attrs, slog.String("reason", d.Reason))
		if d.Confidence != nil {
			attrs = append(attrs, slog.Float64("confidence", *d.Confidence))
		}
		attrs = append(attrs, slog.Int64("local_ms", ri.res.LocalLatency.Milliseconds()), slog.Int64("cloud_ms", ri.res.CloudLatency.Milliseconds()))
	}
	effective := status
	if ri.err != nil {
		attrs = append(attrs, slog.String("error", ri.err.Error()))
		if status < 400 { // failed after the first frame
			effective, _ = statusOf(ri.err)
		}
	}
	lvl := slog.LevelDebug
	switch {
	case effective >= 500:
		lvl = slog.LevelWarn
	case ri.err != nil, effective >= 400, ri.policy != "":
		lvl = slog.LevelInfo
	}
	s.log.LogAttrs(r.Context(), lvl, "request", attrs...)
}
