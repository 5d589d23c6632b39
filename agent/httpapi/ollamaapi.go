package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/edgecascade/edgecascade/agent/cascade"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ollama/ollama/api"

	"github.com/edgecascade/edgecascade/models"
)

// An Ollama-compatible API (/api/chat, /api/generate, /api/tags,
// /api/version) so that apps built for Ollama can point at edgecascade. The
// wire types are Ollama's own (github.com/ollama/ollama/api); the decision
// rides in an extra "cascade" field.

// OllamaVersion is what /api/version reports: the Ollama API version this
// emulates, with edgecascade's suffix.
const OllamaVersion = "0.17.4-edgecascade"

type ollamaChatResponse struct {
	api.ChatResponse
	Cascade *cascade.Decision `json:"cascade,omitempty"`
}

type ollamaGenerateResponse struct {
	api.GenerateResponse
	Cascade *cascade.Decision `json:"cascade,omitempty"`
}

func (s *Server) writeOllamaError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := statusOf(err)
	setErrorHeaders(w.Header(), err)
	noteError(r.Context(), err)
	if status == 499 {
		status = http.StatusBadRequest
	}
	s.writeJSON(w, r, status, map[string]string{"error": body.Error.Message})
}

// ollamaPolicy accepts "auto", "auto:latest" and so on.
func ollamaPolicy(model string) (cascade.Policy, error) {
	if model == "" {
		return "", &BadRequestError{Msg: "missing model: use auto, local or cloud", Param: "model"}
	}
	return cascade.ParsePolicy(strings.TrimSuffix(model, ":latest"))
}

// ollamaOptions reads Ollama's options (the others are refused), format and
// keep_alive.
func ollamaOptions(opts map[string]any, format json.RawMessage, keepAlive *api.Duration, req *cascade.Request) error {
	for k := range opts {
		if !slices.Contains(ollamaOptionFields, k) {
			return unsupported("options." + k)
		}
	}
	f, err := ollamaFormat(format)
	if err != nil {
		return err
	}
	req.Format = f
	if keepAlive != nil {
		d := keepAlive.Duration
		req.KeepAlive = &d
	}
	for _, name := range []string{"top_p", "frequency_penalty", "presence_penalty"} {
		v, ok := opts[name]
		if !ok {
			continue
		}
		f, ok := v.(float64)
		if !ok || math.IsNaN(f) || f < -2 || f > 2 || (name == "top_p" && f < 0) {
			return &BadRequestError{Msg: fmt.Sprintf("options.%s must be a number in range, got %v", name, v), Param: "options." + name}
		}
		switch name {
		case "top_p":
			req.TopP = &f
		case "frequency_penalty":
			req.FrequencyPenalty = &f
		case "presence_penalty":
			req.PresencePenalty = &f
		}
	}
	if v, ok := opts["seed"]; ok {
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) {
			return &BadRequestError{Msg: fmt.Sprintf("options.seed must be an integer, got %v", v), Param: "options.seed"}
		}
		n := int64(f)
		req.Seed = &n
	}
	if v, ok := opts["stop"]; ok {
		list, ok := v.([]any)
		if !ok {
			return &BadRequestError{Msg: "options.stop must be an array of strings", Param: "options.stop"}
		}
		for _, x := range list {
			str, ok := x.(string)
			if !ok {
				return &BadRequestError{Msg: "options.stop must be an array of strings", Param: "options.stop"}
			}
			req.Stop = append(req.Stop, str)
		}
	}
	if v, ok := opts["temperature"]; ok {
		f, ok := v.(float64)
		if !ok || f < 0 || f > 2 || math.IsNaN(f) {
			return &BadRequestError{Msg: fmt.Sprintf("options.temperature must be a number between 0 and 2, got %v", v), Param: "options.temperature"}
		}
		req.Temperature = &f
	}
	for _, name := range []string{"top_k", "num_ctx"} {
		v, ok := opts[name]
		if !ok {
			continue
		}
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) || f < 0 || f > maxMaxTokens*8 {
			return &BadRequestError{Msg: fmt.Sprintf("options.%s must be a non-negative integer, got %v", name, v), Param: "options." + name}
		}
		if name == "top_k" {
			k := int(f)
			req.TopK = &k
		} else {
			req.NumCtx = int(f)
		}
	}
	if v, ok := opts["num_predict"]; ok {
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) || f < -2 || f > maxMaxTokens {
			return &BadRequestError{Msg: fmt.Sprintf("options.num_predict must be an integer up to %d, got %v", maxMaxTokens, v), Param: "options.num_predict"}
		}
		if f > 0 {
			req.MaxTokens = int(f)
		}
	}
	return nil
}

// readOllama reads a request body within the size limit.
func (s *Server) readOllama(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &TooLargeError{Limit: s.cfg.MaxBodyBytes}
		}
		return nil, &BadRequestError{Msg: "could not read the request body: " + err.Error()}
	}
	return body, nil
}

// unmarshalOllama decodes a UTF-8 JSON body into v.
func unmarshalOllama(body []byte, v any) error {
	if !utf8.Valid(body) {
		return &BadRequestError{Msg: "request body is not valid UTF-8"}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &BadRequestError{Msg: "malformed JSON: " + err.Error()}
	}
	return nil
}

// decodeOllamaChat validates an /api/chat body; the error is a
// *BadRequestError or an *UnknownModelError.
func decodeOllamaChat(body []byte) (*api.ChatRequest, cascade.Policy, cascade.Request, error) {
	var cr api.ChatRequest
	if err := unmarshalOllama(body, &cr); err != nil {
		return nil, "", cascade.Request{}, err
	}
	if err := refuseUnknown(body, ollamaChatFields, ollamaMessageFields); err != nil {
		return nil, "", cascade.Request{}, err
	}
	policy, err := ollamaPolicy(cr.Model)
	if err != nil {
		return nil, "", cascade.Request{}, err
	}
	req := cascade.Request{}
	hasContent := false
	for i, m := range cr.Messages {
		switch m.Role {
		case "system", "user", "assistant", "tool":
		default:
			return nil, "", cascade.Request{}, &BadRequestError{Msg: fmt.Sprintf("messages[%d].role %q is not supported (system, user, assistant, tool)", i, m.Role)}
		}
		msg, err := ollamaMessage(req.Messages, m, i)
		if err != nil {
			return nil, "", cascade.Request{}, err
		}
		hasContent = hasContent || strings.TrimSpace(m.Content) != "" || len(msg.Images) > 0 || len(msg.ToolCalls) > 0
		req.Messages = append(req.Messages, msg)
	}
	tools, err := ollamaRawTools(body)
	if err != nil {
		return nil, "", cascade.Request{}, err
	}
	if len(tools) > 0 {
		req.Tools = tools
	}
	if !hasContent {
		return nil, "", cascade.Request{}, &BadRequestError{Msg: "missing messages: send at least one non-empty message"}
	}
	if err := ollamaOptions(cr.Options, cr.Format, cr.KeepAlive, &req); err != nil {
		return nil, "", cascade.Request{}, err
	}
	if err := ollamaLogprobsWanted(cr.Logprobs, cr.TopLogprobs, &req); err != nil {
		return nil, "", cascade.Request{}, err
	}
	return &cr, policy, req, nil
}

// decodeOllamaGenerate validates an /api/generate body; the error is a
// *BadRequestError or an *UnknownModelError.
func decodeOllamaGenerate(body []byte) (*api.GenerateRequest, cascade.Policy, cascade.Request, error) {
	var gr api.GenerateRequest
	if err := unmarshalOllama(body, &gr); err != nil {
		return nil, "", cascade.Request{}, err
	}
	if err := refuseUnknown(body, slices.Concat(ollamaGenerateFields, ollamaGenerateOwn), ollamaMessageFields); err != nil {
		return nil, "", cascade.Request{}, err
	}
	policy, err := ollamaPolicy(gr.Model)
	if err != nil {
		return nil, "", cascade.Request{}, err
	}
	if strings.TrimSpace(gr.Prompt) == "" && gr.Suffix == "" {
		return nil, "", cascade.Request{}, &BadRequestError{Msg: "missing prompt", Param: "prompt"}
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"images", len(gr.Images) > 0}, {"template", gr.Template != ""}, {"context", len(gr.Context) > 0}} {
		if f.set {
			return nil, "", cascade.Request{}, &BadRequestError{Msg: fmt.Sprintf("field %s is not supported by edgecascade (docs/api.md lists the fields it honours)", f.name), Param: f.name}
		}
	}
	if gr.Raw && gr.System != "" {
		return nil, "", cascade.Request{}, &BadRequestError{Msg: "raw mode does not take system (the prompt is sent as is)", Param: "raw"}
	}
	req := cascade.Request{}
	if gr.Raw || gr.Suffix != "" {
		// A completion only the local model can give (docs/api.md).
		req.Completion = &models.Completion{Prompt: gr.Prompt, Suffix: gr.Suffix, Raw: gr.Raw, System: gr.System}
	}
	if gr.System != "" {
		req.Messages = append(req.Messages, models.Message{Role: "system", Content: gr.System})
	}
	req.Messages = append(req.Messages, models.Message{Role: "user", Content: gr.Prompt})
	if err := ollamaOptions(gr.Options, gr.Format, gr.KeepAlive, &req); err != nil {
		return nil, "", cascade.Request{}, err
	}
	if err := ollamaLogprobsWanted(gr.Logprobs, gr.TopLogprobs, &req); err != nil {
		return nil, "", cascade.Request{}, err
	}
	return &gr, policy, req, nil
}

// ollamaRequest is what both Ollama chat routes need of a decoded request.
type ollamaRequest struct {
	model  string
	stream bool
	policy cascade.Policy
	req    cascade.Request
}

// readOllamaRequest reads a request body, decodes it with decode and applies
// the policy header; on an error it answers in Ollama's shape and reports
// false.
func (s *Server) readOllamaRequest(w http.ResponseWriter, r *http.Request, decode func([]byte) (ollamaRequest, error)) (ollamaRequest, bool) {
	body, err := s.readOllama(w, r)
	var or ollamaRequest
	if err == nil {
		or, err = decode(body)
	}
	if err == nil {
		or.policy, err = policyFromHeader(r.Header, or.policy)
	}
	if err != nil {
		s.writeOllamaError(w, r, err)
		return or, false
	}
	info(r.Context()).policy = or.policy
	return or, true
}

func (s *Server) handleOllamaChat(w http.ResponseWriter, r *http.Request) {
	or, ok := s.readOllamaRequest(w, r, func(body []byte) (ollamaRequest, error) {
		cr, policy, req, err := decodeOllamaChat(body)
		if err != nil {
			return ollamaRequest{}, err
		}
		return ollamaRequest{model: cr.Model, stream: cr.Stream == nil || *cr.Stream, policy: policy, req: req}, nil
	})
	if !ok {
		return
	}
	s.ollamaAnswer(w, r, or.policy, or.req, or.stream, func(content string, toks []api.Logprob, done bool, res *cascade.Result, d *cascade.Decision) any {
		out := ollamaChatResponse{ChatResponse: api.ChatResponse{Model: or.model, CreatedAt: s.now().UTC(),
			Message: api.Message{Role: "assistant", Content: content}, Done: done, Logprobs: toks}, Cascade: d}
		if done && res != nil {
			// Tool calls come with the last object (done_reason stop,
			// as Ollama says).
			out.Message.ToolCalls = ollamaToolCallsOut(res.ToolCalls)
			out.DoneReason = res.FinishReason
			if out.DoneReason == "tool_calls" {
				out.DoneReason = "stop"
			}
			out.Metrics = ollamaMetrics(res)
		}
		return out
	})
}

func (s *Server) handleOllamaGenerate(w http.ResponseWriter, r *http.Request) {
	or, ok := s.readOllamaRequest(w, r, func(body []byte) (ollamaRequest, error) {
		gr, policy, req, err := decodeOllamaGenerate(body)
		if err != nil {
			return ollamaRequest{}, err
		}
		return ollamaRequest{model: gr.Model, stream: gr.Stream == nil || *gr.Stream, policy: policy, req: req}, nil
	})
	if !ok {
		return
	}
	s.ollamaAnswer(w, r, or.policy, or.req, or.stream, func(content string, toks []api.Logprob, done bool, res *cascade.Result, d *cascade.Decision) any {
		out := ollamaGenerateResponse{GenerateResponse: api.GenerateResponse{Model: or.model, CreatedAt: s.now().UTC(),
			Response: content, Done: done, Logprobs: toks}, Cascade: d}
		if done && res != nil {
			out.DoneReason = res.FinishReason
			out.Metrics = ollamaMetrics(res)
		}
		return out
	})
}

func ollamaMetrics(res *cascade.Result) api.Metrics {
	return api.Metrics{
		TotalDuration:   res.LocalLatency + res.CloudLatency,
		PromptEvalCount: res.Usage.PromptTokens,
		EvalCount:       res.Usage.CompletionTokens,
	}
}

// ollamaFrame builds one response object: the content, whether it is the
// last, the result (last only) and the decision (first and non-streamed).
// toks are the content's token logprobs when the request asked for them.
type ollamaFrame func(content string, toks []api.Logprob, done bool, res *cascade.Result, d *cascade.Decision) any

// ollamaLogprobs converts token logprobs to Ollama's, with at most top
// alternatives each; nil when none.
func ollamaLogprobs(toks []models.TokenLogprob, top int) []api.Logprob {
	if len(toks) == 0 {
		return nil
	}
	out := make([]api.Logprob, len(toks))
	for i, t := range toks {
		out[i] = api.Logprob{TokenLogprob: api.TokenLogprob{Token: t.Token, Logprob: t.Logprob, Bytes: bytesOf(t.Token)}}
		for j, a := range t.Top {
			if j >= top {
				break
			}
			out[i].TopLogprobs = append(out[i].TopLogprobs, api.TokenLogprob{Token: a.Token, Logprob: a.Logprob, Bytes: bytesOf(a.Token)})
		}
	}
	return out
}

func (s *Server) ollamaAnswer(w http.ResponseWriter, r *http.Request, policy cascade.Policy, req cascade.Request, stream bool, frame ollamaFrame) {
	var err error
	if req.NoDefer, err = noDefer(r.Header, nil); err == nil {
		req.Group, err = groupOf(r.Header, "")
	}
	if err != nil {
		s.writeOllamaError(w, r, err)
		return
	}
	req.ID = newID()
	s.autoGroup(r.Context(), policy, &req)
	if !stream {
		res, err := s.cascade.Answer(r.Context(), policy, req)
		if err != nil {
			s.writeOllamaError(w, r, err)
			return
		}
		s.logResult(r.Context(), policy, req, res)
		d := res.Decision
		setDecisionHeaders(w.Header(), d)
		var toks []api.Logprob
		if req.Logprobs {
			toks = ollamaLogprobs(res.Logprobs, req.TopLogprobs)
		}
		s.writeJSON(w, r, http.StatusOK, frame(res.Content, toks, true, res, &d))
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeOllamaError(w, r, errors.New("streaming unsupported by the connection"))
		return
	}
	e := &ndjsonEmitter{w: w, flusher: flusher, frame: frame, top: req.TopLogprobs}
	res, err := s.cascade.Stream(r.Context(), policy, req, e)
	if err != nil {
		if !e.began {
			s.writeOllamaError(w, r, err)
			return
		}
		// Headers are gone: report the error inside the stream.
		noteError(r.Context(), err)
		_, body := statusOf(err)
		_ = e.write(map[string]string{"error": body.Error.Message})
		return
	}
	s.logResult(r.Context(), policy, req, res)
	var d *cascade.Decision
	if policy == cascade.PolicyLocal {
		dd := res.Decision // the score of a live local stream is known at the end
		d = &dd
	}
	_ = e.write(frame("", nil, true, res, d))
}

// ndjsonEmitter streams Ollama's newline-delimited JSON.
type ndjsonEmitter struct {
	w       http.ResponseWriter
	flusher http.Flusher
	frame   ollamaFrame
	began   bool
	top     int // the request's top_logprobs
}

func (e *ndjsonEmitter) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := e.w.Write(append(b, '\n')); err != nil {
		return err
	}
	e.flusher.Flush()
	return nil
}

func (e *ndjsonEmitter) Begin(d cascade.Decision) error {
	e.w.Header().Set("Content-Type", "application/x-ndjson")
	setDecisionHeaders(e.w.Header(), d)
	e.w.WriteHeader(http.StatusOK)
	e.began = true
	return e.write(e.frame("", nil, false, nil, &d))
}

func (e *ndjsonEmitter) Delta(text string) error { return e.write(e.frame(text, nil, false, nil, nil)) }

// DeltaLogprobs implements cascade.LogprobEmitter.
func (e *ndjsonEmitter) DeltaLogprobs(text string, toks []models.TokenLogprob) error {
	return e.write(e.frame(text, ollamaLogprobs(toks, e.top), false, nil, nil))
}

func (s *Server) handleOllamaTags(w http.ResponseWriter, r *http.Request) {
	var list api.ListResponse
	for _, p := range cascade.Policies {
		list.Models = append(list.Models, api.ListModelResponse{Name: string(p), Model: string(p), ModifiedAt: time.Unix(0, 0).UTC(),
			Details: api.ModelDetails{Family: "edgecascade"}})
	}
	s.writeJSON(w, r, http.StatusOK, list)
}

func (s *Server) handleOllamaVersion(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, map[string]string{"version": OllamaVersion})
}
