package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/events"
	"github.com/edgecascade/edgecascade/models"
)

// The chat route of the OpenAI-compatible API and /v1/models.

func setDecisionHeaders(h http.Header, d cascade.Decision) {
	h.Set("X-Cascade-Route", d.Route)
	if d.ID != "" {
		h.Set("X-Cascade-Id", d.ID)
	}
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
		policy, err = cr.Cascade.apply(r.Header, policy, &req)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info(r.Context()).policy = policy
	req.ID = newID()
	s.autoGroup(r.Context(), policy, &req)
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
	content, finish := res.Content, finishOf(res)
	d := res.Decision
	setDecisionHeaders(w.Header(), d)
	msg := &responseMsg{Role: "assistant", Content: &content, ToolCalls: openAIToolCalls(res.ToolCalls, false)}
	if content == "" && len(res.ToolCalls) > 0 {
		msg.Content = nil // OpenAI's content is null beside tool calls
	}
	s.writeJSON(w, r, http.StatusOK, chatResponse{
		ID: req.ID, Object: "chat.completion", Created: s.now().Unix(), Model: cr.Model,
		Choices: []chatChoice{{Message: msg, FinishReason: &finish, Logprobs: logprobsOf(req, res)}},
		Usage:   usageOf(res.Usage),
		Cascade: &d,
	})
}

// logResult records an answered request: the metrics, the decision log
// and, with the events stream on, a decision event (the same entry, whose
// id is the response's: what feedback names).
func (s *Server) logResult(ctx context.Context, policy cascade.Policy, req cascade.Request, res *cascade.Result) {
	s.metrics.observe(policy, res)
	if s.cfg.Decisions != nil || s.cfg.Events != nil {
		e := s.entry(policy, req, res)
		if s.cfg.Decisions != nil {
			s.cfg.Decisions.Append(e)
		}
		if s.cfg.Events != nil {
			s.cfg.Events.Publish(events.Decision, e)
		}
	}
	ri := info(ctx) // the request log line says the rest
	ri.policy, ri.res = policy, res
}

// sseEmitter writes OpenAI chat.completion.chunk events.
type sseEmitter struct {
	// top is the request's top_logprobs (DeltaLogprobs).
	top     int
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

// open starts the event stream: its headers, with the decision's.
func (e *sseEmitter) open(d cascade.Decision) {
	h := e.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	setDecisionHeaders(h, d)
	e.w.WriteHeader(http.StatusOK)
	e.began = true
}

func (e *sseEmitter) Begin(d cascade.Decision) error {
	e.open(d)
	empty := ""
	c := e.chunk(&responseMsg{Role: "assistant", Content: &empty}, nil)
	c.Cascade = &d
	return e.write(c)
}

func (e *sseEmitter) Delta(text string) error {
	return e.write(e.chunk(&responseMsg{Content: &text}, nil))
}

// DeltaLogprobs implements cascade.LogprobEmitter: the text with its
// tokens' logprobs in the same chunk.
func (e *sseEmitter) DeltaLogprobs(text string, toks []models.TokenLogprob) error {
	c := e.chunk(&responseMsg{Content: &text}, nil)
	if len(toks) > 0 {
		c.Choices[0].Logprobs = formatLogprobs(toks, e.top)
	}
	return e.write(c)
}

func (s *Server) streamChat(w http.ResponseWriter, r *http.Request, cr *chatRequest, policy cascade.Policy, req cascade.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, errors.New("streaming unsupported by the connection"))
		return
	}
	e := &sseEmitter{w: w, flusher: flusher, id: req.ID, model: cr.Model, created: s.now().Unix(), top: req.TopLogprobs}
	res, err := s.cascade.Stream(r.Context(), policy, req, e)
	if err != nil {
		if !e.began {
			s.writeError(w, r, err)
			return
		}
		// Headers are gone: report the error inside the stream, as OpenAI does.
		noteError(r.Context(), err)
		_, body := statusOf(err)
		_ = e.write(body)
		return
	}
	s.logResult(r.Context(), policy, req, res)
	if len(res.ToolCalls) > 0 {
		// The tool calls come whole at the end of the answer: one delta
		// carries them all, each with its index, id, name and arguments.
		if err := e.write(e.chunk(&responseMsg{ToolCalls: openAIToolCalls(res.ToolCalls, true)}, nil)); err != nil {
			return
		}
	}
	finish := finishOf(res)
	last := e.chunk(&responseMsg{}, &finish)
	if policy == cascade.PolicyLocal || res.Decision.FromCloud() {
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

// finishOf is the answer's finish reason: tool_calls when it calls tools
// (Ollama says stop).
func finishOf(res *cascade.Result) string {
	if len(res.ToolCalls) > 0 {
		return "tool_calls"
	}
	return res.FinishReason
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	list := modelList{Object: "list"}
	for _, p := range cascade.Policies {
		list.Data = append(list.Data, modelInfo{ID: string(p), Object: "model", OwnedBy: "edgecascade", Description: s.modelDescription(p)})
	}
	s.writeJSON(w, r, http.StatusOK, list)
}

// openAILogprob is one entry of choices[].logprobs.content.
type openAILogprob struct {
	Token       string      `json:"token"`
	Logprob     float64     `json:"logprob"`
	Bytes       []int       `json:"bytes"`
	TopLogprobs []openAITop `json:"top_logprobs"`
}

// openAITop is one alternative of a token.
type openAITop struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// logprobsOf is the answer's logprobs when the request asked for them, with
// at most top_logprobs alternatives (the local model has the ones the daemon
// asked for scoring, local.top_logprobs); null when not asked or none known.
func logprobsOf(req cascade.Request, res *cascade.Result) json.RawMessage {
	if !req.Logprobs || len(res.Logprobs) == 0 {
		return jsonNull
	}
	return formatLogprobs(res.Logprobs, req.TopLogprobs)
}

// formatLogprobs is OpenAI's {"content": [...]} with at most top
// alternatives per token.
func formatLogprobs(toks []models.TokenLogprob, top int) json.RawMessage {
	content := make([]openAILogprob, len(toks))
	for i, t := range toks {
		content[i] = openAILogprob{Token: t.Token, Logprob: t.Logprob, Bytes: bytesOf(t.Token), TopLogprobs: []openAITop{}}
		for j, a := range t.Top {
			if j >= top {
				break
			}
			content[i].TopLogprobs = append(content[i].TopLogprobs, openAITop{Token: a.Token, Logprob: a.Logprob, Bytes: bytesOf(a.Token)})
		}
	}
	b, err := json.Marshal(map[string]any{"content": content})
	if err != nil {
		return jsonNull
	}
	return b
}

func bytesOf(s string) []int {
	out := make([]int, len(s))
	for i := range len(s) {
		out[i] = int(s[i])
	}
	return out
}
