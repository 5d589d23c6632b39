// Package httpapi serves a cascade over HTTP: the OpenAI-compatible API,
// the Ollama-compatible API, the deferred items and events, /healthz and
// /metrics, behind the guard (Host check, CORS, bearer token).
package httpapi

import (
	"github.com/edgecascade/edgecascade/agent/admission"
	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/events"
	"github.com/edgecascade/edgecascade/agent/outbox"
	"github.com/edgecascade/edgecascade/agent/resources"
	"github.com/edgecascade/edgecascade/cloud"

	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/edgecascade/edgecascade/cloud/reach"
	"github.com/edgecascade/edgecascade/configs/secret"
	"github.com/edgecascade/edgecascade/models"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
)

// ServerConfig configures the HTTP API.
type ServerConfig struct {
	// MaxBodyBytes is the largest accepted request body.
	MaxBodyBytes int64
	// Backend and LocalURL describe the local backend in /healthz.
	Backend, LocalURL string
	// CloudProvider and CloudURL describe the cloud in /healthz.
	CloudProvider, CloudURL string
	// HealthTimeout bounds each check of /healthz (default 3s).
	HealthTimeout time.Duration
	// Decisions, when set, receives one entry per answered request.
	Decisions DecisionLog
	// Labels, when set, receives every new feedback label with its
	// decision (the online threshold); Adapt, when set, shows the online
	// threshold in /healthz and /metrics.
	Labels LabelSink
	Adapt  Adaptation
	// LogContent puts prompts and answers into the decision log.
	LogContent bool
	// Deferrals, when set, serves /v1/cascade/deferred/{id}; Events serves
	// /v1/cascade/events with a keepalive comment every EventsKeepalive
	// (default 15s).
	Deferrals       *outbox.Deferrals
	Events          *events.Broker
	EventsKeepalive time.Duration
	// Reach and Budget, when set, report the cloud's reachability and
	// budget in /healthz.
	Reach  Reachability
	Budget BudgetUsage
	// Admission, when set, is the local model's limiter, shown in /metrics.
	Admission *admission.Limiter
	// AuthToken, when set, is the bearer token every route requires.
	AuthToken secret.Secret
	// CORSOrigins are the browser origins allowed; other Origins get 403.
	CORSOrigins []string
	// CheckHost refuses Host headers that are not loopback names, loopback
	// IPs or AllowedHosts (set when listening on loopback).
	CheckHost    bool
	AllowedHosts []string
	// Embedder computes the embeddings of /v1/embeddings, /api/embed and
	// /api/embeddings with EmbedModel (empty: the local model); nil: the
	// cascade's local model when it is a models.Embedder. The daemon sets
	// it to the backend behind the admission limiter.
	Embedder   models.Embedder
	EmbedModel string
	// Grouper, when set, gives a request of policy auto that names no group
	// the group of its prompt's embedding cluster (adapt.enabled with a
	// calibration from calibrate --groups K).
	Grouper Grouper
	// Describer answers /api/show and /api/ps for the local model; nil: the
	// cascade's local model when it is a models.Describer.
	Describer models.Describer
	// CloudPrice prices tokens for the summary's savings against an
	// always-cloud deployment; ResourceRules are the power and heat rules in
	// force (nil when off), shown by the summary.
	CloudPrice    cloud.Price
	ResourceRules []resources.Rule
	// Pprof serves Go's runtime profiles under /debug/pprof/ (heap,
	// goroutine, allocs, CPU profile, trace), behind the guard like every
	// route.
	Pprof bool
}

// Server is the HTTP API in front of a cascade.
type Server struct {
	cascade *cascade.Cascade
	cfg     ServerConfig
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
}

// NewServer returns the HTTP API for c.
func NewServer(c *cascade.Cascade, cfg ServerConfig, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.HealthTimeout <= 0 {
		cfg.HealthTimeout = 3 * time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.EventsKeepalive <= 0 {
		cfg.EventsKeepalive = 15 * time.Second
	}
	s := &Server{cascade: c, cfg: cfg, log: log, metrics: NewMetrics(), now: time.Now}
	if cfg.Deferrals != nil {
		s.metrics.watchOutbox(cfg.Deferrals)
	}
	if cfg.Admission != nil {
		s.metrics.watchAdmission(cfg.Admission)
	}
	if cfg.Adapt != nil {
		s.metrics.watchAdaptation(cfg.Adapt)
	}
	return s
}

// CloudStateChanged records a change of the cloud's reachability in the
// metrics.
func (s *Server) CloudStateChanged(st reach.Status) {
	s.metrics.cloudUp.Set(boolGauge(st.State == reach.StateOnline))
}

// Route is one route of the API: a method ("" for any), a ServeMux
// pattern and its handler.
type Route struct {
	Method, Pattern string
	Handler         http.Handler
	// Page, when set, says which requests of the route ask for the
	// dashboard's embedded files (agent/ui): they hold no data, and a
	// browser cannot send a bearer token when it loads a page or its
	// scripts, so these pass the guard's Host and Origin checks without
	// the token; the page sends it on every API call it makes.
	Page func(*http.Request) bool
}

// Routes is the table of every route Handler serves, in one place so that
// a test can walk them all through the guard (TestGuardEveryRoute). The
// last is the catch-all 404.
func (s *Server) Routes() []Route {
	f := func(method, pattern string, h http.HandlerFunc) Route {
		return Route{Method: method, Pattern: pattern, Handler: h}
	}
	routes := []Route{
		f("POST", "/v1/chat/completions", s.handleChat),
		f("POST", "/v1/completions", s.handleCompletions),
		f("GET", "/v1/models", s.handleModels),
		f("GET", "/healthz", s.handleHealth),
		{Method: "GET", Pattern: "/metrics", Handler: s.metrics.Handler()},
		f("GET", "/v1/cascade/decisions", s.handleDecisions),
		f("GET", "/v1/cascade/decisions/export", s.handleDecisionsExport),
		f("GET", "/v1/cascade/deferred", s.handleDeferredStats),
		f("GET", "/v1/cascade/deferred/{id}", s.handleDeferred),
		f("GET", "/v1/cascade/events", s.handleEvents),
		f("POST", "/v1/cascade/feedback", s.handleFeedback),
		f("POST", "/api/chat", s.handleOllamaChat),
		f("POST", "/api/generate", s.handleOllamaGenerate),
		f("GET", "/api/tags", s.handleOllamaTags),
		f("GET", "/api/version", s.handleOllamaVersion),
		f("POST", "/v1/embeddings", s.handleEmbeddings),
		f("POST", "/api/embed", s.handleOllamaEmbed),
		f("POST", "/api/embeddings", s.handleOllamaEmbeddings),
		// And HEAD: "Ollama is running"; a browser gets the dashboard.
		{Method: "GET", Pattern: "/{$}", Handler: http.HandlerFunc(s.handleRoot), Page: acceptsHTML},
		f("POST", "/api/show", s.handleOllamaShow),
		f("GET", "/api/ps", s.handleOllamaPS),
		f("GET", "/v1/models/{id}", s.handleModel),
		f("GET", "/v1/cascade/summary", s.handleSummary),
		{Method: "GET", Pattern: "/ui", Handler: http.HandlerFunc(s.handleUI), Page: always},
		{Method: "GET", Pattern: "/ui/{file}", Handler: http.HandlerFunc(s.handleUI), Page: always},
	}
	if s.cfg.Pprof {
		// Behind the guard: with server.auth_token set, fetch a profile
		// with the token (curl -H 'Authorization: Bearer …') and give the
		// file to `go tool pprof`.
		routes = append(routes,
			f("GET", "/debug/pprof/", pprof.Index), // also every named profile: /debug/pprof/heap, …
			f("GET", "/debug/pprof/cmdline", pprof.Cmdline),
			f("GET", "/debug/pprof/profile", pprof.Profile),
			f("GET", "/debug/pprof/symbol", pprof.Symbol),
			f("GET", "/debug/pprof/trace", pprof.Trace),
		)
	}
	return append(routes, f("", "/", func(w http.ResponseWriter, r *http.Request) {
		s.notFound(w, r, fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	}))
}

// Handler serves the route table, every route behind the guard. Routes are
// registered here and nowhere else (TestRoutesOnlyFromTable).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	pages := map[string]func(*http.Request) bool{}
	for _, rt := range s.Routes() {
		pattern := rt.Pattern
		if rt.Method != "" {
			pattern = rt.Method + " " + pattern
		}
		mux.Handle(pattern, rt.Handler)
		if rt.Page != nil {
			pages[pattern] = rt.Page
		}
	}
	page := func(r *http.Request) bool {
		_, pattern := mux.Handler(r)
		p := pages[pattern]
		return p != nil && p(r)
	}
	return s.requestLog(s.recoverer(s.guard(mux, page)))
}

// recoverer turns a panic into a 500 in the OpenAI error shape and logs it;
// the process keeps serving.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic in handler", "path", r.URL.Path, "panic", v)
				noteError(r.Context(), fmt.Errorf("panic: %v", v))
				s.writeJSON(w, r, http.StatusInternalServerError, apiError{Error: apiErrorBody{Message: "internal error", Type: "server_error", Code: "internal_error"}})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// ollamaPath reports whether path is a route of the Ollama-compatible API,
// whose errors are {"error": "..."}.
func ollamaPath(path string) bool { return strings.HasPrefix(path, "/api/") }

// writeJSON writes v as JSON with status. v is encoded before anything is
// written: when that fails (a NaN, say), the client gets a 500 in its API's
// error shape (OpenAI's, or Ollama's under /api/) and the failure is logged;
// never status with an empty or cut body.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.ErrorContext(r.Context(), "could not encode the response", "path", r.URL.Path, "status", status, "err", err)
		msg := "internal error: could not encode the response: " + err.Error()
		if ollamaPath(r.URL.Path) {
			b, _ = json.Marshal(map[string]string{"error": msg})
		} else {
			b, _ = json.Marshal(apiError{Error: apiErrorBody{Message: msg, Type: "server_error", Code: "internal_error"}})
		}
		status = http.StatusInternalServerError
		noteError(r.Context(), fmt.Errorf("encode the response: %w", err))
		h := w.Header()
		h.Del("X-Cascade-Route") // no answer was given
		h.Del("X-Cascade-Confidence")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := statusOf(err)
	setErrorHeaders(w.Header(), err)
	noteError(r.Context(), err)
	s.writeJSON(w, r, status, body)
}

// newID is a chat response's id; newCompletionID a legacy completion's.
func newID() string { return "chatcmpl-" + randomHex() }

func newCompletionID() string { return "cmpl-" + randomHex() }

func randomHex() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
