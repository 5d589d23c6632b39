// Package httpapi serves a cascade over HTTP: the OpenAI-compatible API,
// the Ollama-compatible API, the deferred items and events, /healthz and
// /metrics, behind the guard (Host check, CORS, bearer token).
package httpapi

import (
	"crypto/sha256"
	"github.com/edgecascade/edgecascade/agent/admission"
	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/events"
	"github.com/edgecascade/edgecascade/agent/outbox"
	"io"

	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/edgecascade/edgecascade/agent/decisionlog"
	"github.com/edgecascade/edgecascade/cloud/budget"
	"github.com/edgecascade/edgecascade/cloud/reach"
	"github.com/edgecascade/edgecascade/configs"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
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
	AuthToken configs.Secret
	// CORSOrigins are the browser origins allowed; other Origins get 403.
	CORSOrigins []string
	// CheckHost refuses Host headers that are not loopback names, loopback
	// IPs or AllowedHosts (set when listening on loopback).
	CheckHost    bool
	AllowedHosts []string
}

// DecisionLog stores decisions (agent/decisionlog implements it).
type DecisionLog interface {
	Append(e decisionlog.Entry)
	Tail(ctx context.Context, n int) ([]decisionlog.Entry, error)
	Export(ctx context.Context, w io.Writer) (int, error)
	// WriteErr is the error of the last write, nil when it succeeded.
	WriteErr() error
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
	return s
}

// CloudStateChanged records a change of the cloud's reachability in the
// metrics.
func (s *Server) CloudStateChanged(st reach.Status) {
	s.metrics.cloudUp.Set(boolGauge(st.State == reach.StateOnline))
}

// SetDecisions sets the decision log (before serving).
func (s *Server) SetDecisions(d DecisionLog) { s.cfg.Decisions = d }

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.handleChat)
	mux.HandleFunc("GET /v1/models", s.handleModels)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.Handle("GET /metrics", s.metrics.Handler())
	mux.HandleFunc("GET /v1/cascade/decisions", s.handleDecisions)
	mux.HandleFunc("GET /v1/cascade/decisions/export", s.handleDecisionsExport)
	mux.HandleFunc("GET /v1/cascade/deferred", s.handleDeferredStats)
	mux.HandleFunc("GET /v1/cascade/deferred/{id}", s.handleDeferred)
	mux.HandleFunc("GET /v1/cascade/events", s.handleEvents)
	mux.HandleFunc("POST /api/chat", s.handleOllamaChat)
	mux.HandleFunc("POST /api/generate", s.handleOllamaGenerate)
	mux.HandleFunc("GET /api/tags", s.handleOllamaTags)
	mux.HandleFunc("GET /api/version", s.handleOllamaVersion)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: apiErrorBody{
			Message: fmt.Sprintf("no route %s %s", r.Method, r.URL.Path), Type: "invalid_request_error", Code: "not_found"}})
	})
	return recoverer(s.log, s.guard(mux))
}

// recoverer turns a panic into a 500 in the OpenAI error shape and logs it;
// the process keeps serving.
func recoverer(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic in handler", "path", r.URL.Path, "panic", v)
				writeJSON(w, http.StatusInternalServerError, apiError{Error: apiErrorBody{Message: "internal error", Type: "server_error", Code: "internal_error"}})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := statusOf(err)
	setErrorHeaders(w.Header(), err)
	lvl := slog.LevelInfo
	if status >= 500 {
		lvl = slog.LevelWarn
	}
	s.log.Log(r.Context(), lvl, "request failed", "path", r.URL.Path, "status", status, "err", err)
	writeJSON(w, status, body)
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "chatcmpl-" + hex.EncodeToString(b[:])
}

func setDecisionHeaders(h http.Header, d cascade.Decision) {
	h.Set("X-Cascade-Route", d.Route)
	if d.Deferred {
		h.Set("X-Cascade-Deferred-Id", d.DeferredID)
	}
	if d.Confidence != nil {
		h.Set("X-Cascade-Confidence", strconv.FormatFloat(*d.Confidence, 'f', 4, 64))
	}
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	cr, policy, req, err := decodeChatRequest(r.Body, s.cfg.MaxBodyBytes)
	if err == nil {
		policy, err = policyFromHeader(r.Header, policy)
	}
	if err == nil {
		var body *bool
		if cr.Cascade != nil {
			body = cr.Cascade.Defer
		}
		req.NoDefer, err = noDefer(r.Header, body)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if cr.Stream {
		s.streamChat(w, r, cr, policy, req)
		return
	}
	res, err := s.cascade.Answer(r.Context(), policy, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.logResult(r.Context(), policy, req, res)
	content, finish := res.Content, res.FinishReason
	d := res.Decision
	setDecisionHeaders(w.Header(), d)
	writeJSON(w, http.StatusOK, chatResponse{
		ID: newID(), Object: "chat.completion", Created: s.now().Unix(), Model: cr.Model,
		Choices: []chatChoice{{Message: &responseMsg{Role: "assistant", Content: &content}, FinishReason: &finish, Logprobs: jsonNull}},
		Usage:   usageOf(res.Usage),
		Cascade: &d,
	})
}

func (s *Server) logResult(ctx context.Context, policy cascade.Policy, req cascade.Request, res *cascade.Result) {
	s.metrics.observe(policy, res)
	if s.cfg.Decisions != nil {
		s.cfg.Decisions.Append(s.entry(policy, req, res))
	}
	d := res.Decision
	attrs := []any{"policy", policy, "route", d.Route, "escalated", d.Escalated, "reason", d.Reason,
		"local_ms", res.LocalLatency.Milliseconds(), "cloud_ms", res.CloudLatency.Milliseconds()}
	if d.Confidence != nil {
		attrs = append(attrs, "confidence", *d.Confidence)
	}
	s.log.InfoContext(ctx, "answered", attrs...)
}

// sseEmitter writes OpenAI chat.completion.chunk events.
type sseEmitter struct {
	w       http.ResponseWriter
	flusher http.Flusher
	id      string
	model   string
	created int64
	began   bool
}

func (e *sseEmitter) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(e.w, "data: %s\n\n", b); err != nil {
		return err
	}
	e.flusher.Flush()
	return nil
}

func (e *sseEmitter) chunk(delta *responseMsg, finish *string) chatResponse {
	return chatResponse{ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model,
		Choices: []chatChoice{{Delta: delta, FinishReason: finish, Logprobs: jsonNull}}}
}

func (e *sseEmitter) Begin(d cascade.Decision) error {
	h := e.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	setDecisionHeaders(h, d)
	e.w.WriteHeader(http.StatusOK)
	e.began = true
	empty := ""
	c := e.chunk(&responseMsg{Role: "assistant", Content: &empty}, nil)
	c.Cascade = &d
	return e.write(c)
}

func (e *sseEmitter) Delta(text string) error {
	return e.write(e.chunk(&responseMsg{Content: &text}, nil))
}

func (s *Server) streamChat(w http.ResponseWriter, r *http.Request, cr *chatRequest, policy cascade.Policy, req cascade.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, errors.New("streaming unsupported by the connection"))
		return
	}
	e := &sseEmitter{w: w, flusher: flusher, id: newID(), model: cr.Model, created: s.now().Unix()}
	res, err := s.cascade.Stream(r.Context(), policy, req, e)
	if err != nil {
		if !e.began {
			s.writeError(w, r, err)
			return
		}
		// Headers are gone: report the error inside the stream, as OpenAI does.
		_, body := statusOf(err)
		s.log.Warn("stream failed", "err", err)
		_ = e.write(body)
		return
	}
	s.logResult(r.Context(), policy, req, res)
	finish := res.FinishReason
	last := e.chunk(&responseMsg{}, &finish)
	if policy == cascade.PolicyLocal || res.Decision.Route == cascade.RouteCloud {
		// The score of a live local stream, and the cloud provider that
		// answered, are known only at the end.
		d := res.Decision
		last.Cascade = &d
	}
	if err := e.write(last); err != nil {
		return
	}
	if cr.StreamOptions != nil && cr.StreamOptions.IncludeUsage {
		u := e.chunk(nil, nil)
		u.Choices = []chatChoice{}
		u.Usage = usageOf(res.Usage)
		if err := e.write(u); err != nil {
			return
		}
	}
	_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
	flusher.Flush()
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	desc := map[cascade.Policy]string{
		cascade.PolicyAuto:  "cascade: local model " + s.cascade.Local().Name() + ", escalating to " + s.cascade.Cloud().Model() + " when not confident",
		cascade.PolicyLocal: "local model " + s.cascade.Local().Name() + " only; never leaves the device",
		cascade.PolicyCloud: "cloud model " + s.cascade.Cloud().Model() + " only",
	}
	list := modelList{Object: "list"}
	for _, p := range cascade.Policies {
		list.Data = append(list.Data, modelInfo{ID: string(p), Object: "model", OwnedBy: "edgecascade", Description: desc[p]})
	}
	writeJSON(w, http.StatusOK, list)
}

type health struct {
	Status    string           `json:"status"`
	Local     localHealth      `json:"local"`
	Cloud     cloudHealth      `json:"cloud"`
	Decisions *decisionsHealth `json:"decisions,omitempty"`
	Scorer    string           `json:"scorer"`
	Thresh    float64          `json:"threshold"`
	Budget    *budget.Usage    `json:"budget,omitempty"`
	Outbox    *outboxStatus    `json:"outbox,omitempty"`
}

// decisionsHealth is the decision log's state: whether its last write
// succeeded (a full disk loses entries).
type decisionsHealth struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

type localHealth struct {
	Backend string `json:"backend"`
	URL     string `json:"url"`
	Model   string `json:"model"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
}

type cloudHealth struct {
	Provider  string `json:"provider"`
	URL       string `json:"base_url"`
	Model     string `json:"model"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	// Reachability is the circuit breaker's view: online, unreachable or
	// offline (the offline switch).
	Reachability *reach.Status `json:"reachability,omitempty"`
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.HealthTimeout)
	defer cancel()
	rt := s.cascade.Routing()
	h := health{
		Local:  localHealth{Backend: s.cfg.Backend, URL: s.cfg.LocalURL, Model: s.cascade.Local().Name()},
		Cloud:  cloudHealth{Provider: s.cfg.CloudProvider, URL: s.cfg.CloudURL, Model: s.cascade.Cloud().Model()},
		Scorer: rt.Scorer.Name(), Thresh: rt.Threshold,
	}
	offline := false
	if s.cfg.Reach != nil {
		st := s.cfg.Reach.Status()
		h.Cloud.Reachability = &st
		offline = st.State == reach.StateOffline
	}
	if s.cfg.Budget != nil {
		u := s.cfg.Budget.Usage()
		h.Budget = &u
	}
	h.Outbox = s.outboxHealth(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.cascade.Local().Ping(ctx); err != nil {
			h.Local.Error = err.Error()
		} else {
			h.Local.OK = true
		}
	}()
	if offline {
		h.Cloud.Error = "offline mode is on: the cloud is not contacted"
	} else {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.cascade.Cloud().Ping(ctx); err != nil {
				h.Cloud.Error = err.Error()
			} else {
				h.Cloud.Reachable = true
			}
		}()
	}
	wg.Wait()
	if s.cfg.Decisions != nil {
		h.Decisions = &decisionsHealth{OK: true}
		if err := s.cfg.Decisions.WriteErr(); err != nil {
			h.Decisions = &decisionsHealth{Error: err.Error()}
		}
	}
	s.metrics.localUp.Set(boolGauge(h.Local.OK))
	s.metrics.cloudUp.Set(boolGauge(h.Cloud.Reachable))
	status := http.StatusOK
	switch {
	case h.Local.OK && (h.Cloud.Reachable || offline) && (h.Decisions == nil || h.Decisions.OK) && (h.Outbox == nil || h.Outbox.Error == ""):
		h.Status = "ok"
	case h.Local.OK || h.Cloud.Reachable:
		h.Status = "degraded"
	default:
		h.Status = "down"
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
}

// entry is the decision log's record of one answer. The prompt is kept as a
// hash unless content logging is on.
func (s *Server) entry(policy cascade.Policy, req cascade.Request, res *cascade.Result) decisionlog.Entry {
	d := res.Decision
	h := sha256.New()
	for _, m := range req.Messages {
		h.Write([]byte(m.Role))
		h.Write([]byte{0})
		h.Write([]byte(m.Content))
		h.Write([]byte{0})
	}
	e := decisionlog.Entry{
		Time: s.now().UTC(), Policy: string(policy), Route: d.Route, Escalated: d.Escalated, Scorer: d.Scorer,
		Score: d.Score, Confidence: d.Confidence, Threshold: d.Threshold, Reason: d.Reason,
		LocalModel: d.LocalModel, CloudModel: d.CloudModel, CloudProvider: d.CloudProvider,
		LocalMS: float64(res.LocalLatency.Microseconds()) / 1000, CloudMS: float64(res.CloudLatency.Microseconds()) / 1000,
		PromptTokens: res.Usage.PromptTokens, CompletionTokens: res.Usage.CompletionTokens, Cost: res.Cost,
		PromptHash: hex.EncodeToString(h.Sum(nil)), DeferredID: d.DeferredID,
	}
	if d.Route == cascade.RouteLocal {
		e.CloudModel = ""
	}
	if s.cfg.LogContent && len(req.Messages) > 0 {
		e.Prompt = req.Messages[len(req.Messages)-1].Content
		e.Answer = res.Content
	}
	return e
}

func (s *Server) decisionsOff(w http.ResponseWriter) bool {
	if s.cfg.Decisions == nil {
		writeJSON(w, http.StatusNotFound, apiError{Error: apiErrorBody{Message: "the decision log is off", Type: "invalid_request_error", Code: "not_found"}})
		return true
	}
	return false
}

func (s *Server) handleDecisions(w http.ResponseWriter, r *http.Request) {
	if s.decisionsOff(w) {
		return
	}
	n := 20
	if v := r.URL.Query().Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 100000 {
			s.writeError(w, r, &BadRequestError{Msg: "n must be an integer between 1 and 100000", Param: "n"})
			return
		}
	}
	entries, err := s.cfg.Decisions.Tail(r.Context(), n)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": entries})
}

func (s *Server) handleDecisionsExport(w http.ResponseWriter, r *http.Request) {
	if s.decisionsOff(w) {
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	if _, err := s.cfg.Decisions.Export(r.Context(), w); err != nil {
		s.log.Warn("decision export failed", "err", err)
	}
}
