package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/models"
)

// POST /v1/completions: OpenAI's legacy completions, as Ollama serves them.
// A prompt alone is a question to the model through its chat template (as
// Ollama's /v1/completions and /api/generate do): it is answered, scored and
// escalated like a chat, the provider getting the prompt as a user message.
// A suffix makes it a fill-in-the-middle completion, which only the local
// model gives (through its template's insert support): under auto it is
// answered locally with the reason, under cloud it is a 400
// (cascade.CompletionError).

// completionFields are the /v1/completions fields edgecascade honours.
var completionFields = []string{
	"model", "prompt", "suffix", "max_tokens", "temperature", "top_p", "stop", "seed",
	"frequency_penalty", "presence_penalty", "n", "best_of", "logprobs", "echo", "user",
	"stream", "stream_options", "cascade",
}

// maxCompletionLogprobs is the most alternatives legacy logprobs take (as
// OpenAI allows).
const maxCompletionLogprobs = 5

type completionRequest struct {
	Model            string           `json:"model"`
	Prompt           completionPrompt `json:"prompt"`
	Suffix           string           `json:"suffix"`
	MaxTokens        *int             `json:"max_tokens"`
	Temperature      *float64         `json:"temperature"`
	TopP             *float64         `json:"top_p"`
	Stop             stopField        `json:"stop"`
	Seed             *int64           `json:"seed"`
	FrequencyPenalty *float64         `json:"frequency_penalty"`
	PresencePenalty  *float64         `json:"presence_penalty"`
	N                *int             `json:"n"`
	BestOf           *int             `json:"best_of"`
	Logprobs         *int             `json:"logprobs"`
	Echo             bool             `json:"echo"`
	User             string           `json:"user"`
	Stream           bool             `json:"stream"`
	StreamOptions    *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Cascade *cascadeOptions `json:"cascade"`
}

// completionPrompt is a prompt: a string, or an array of one string (arrays
// of several prompts, and token arrays, are refused).
type completionPrompt string

func (p *completionPrompt) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*p = completionPrompt(one)
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil || len(many) != 1 {
		return &BadRequestError{Msg: "prompt must be a string or an array of one string (one completion per request; token arrays are not supported)", Param: "prompt"}
	}
	*p = completionPrompt(many[0])
	return nil
}

// parseCompletionRequest validates a /v1/completions body.
func parseCompletionRequest(body []byte) (*completionRequest, cascade.Policy, cascade.Request, error) {
	fail := func(param, format string, args ...any) (*completionRequest, cascade.Policy, cascade.Request, error) {
		return nil, "", cascade.Request{}, &BadRequestError{Msg: fmt.Sprintf(format, args...), Param: param}
	}
	var cr completionRequest
	if err := decodeBody(body, &cr, false); err != nil {
		return nil, "", cascade.Request{}, err
	}
	if err := refuseUnknown(body, completionFields, nil); err != nil {
		return nil, "", cascade.Request{}, err
	}
	if cr.Model == "" {
		return fail("model", "missing model: use auto, local or cloud")
	}
	policy, err := cascade.ParsePolicy(cr.Model)
	if err != nil {
		return nil, "", cascade.Request{}, err
	}
	prompt := string(cr.Prompt)
	if strings.TrimSpace(prompt) == "" && cr.Suffix == "" {
		return fail("prompt", "missing prompt")
	}
	switch {
	case cr.Echo:
		return fail("echo", "echo is not supported: the answer is the completion only (prepend the prompt yourself)")
	case cr.N != nil && *cr.N != 1:
		return fail("n", "n must be 1, got %d: edgecascade returns one completion per request (send n requests)", *cr.N)
	case cr.BestOf != nil && *cr.BestOf != 1:
		return fail("best_of", "best_of must be 1, got %d: edgecascade generates one completion per request", *cr.BestOf)
	case cr.Logprobs != nil && (*cr.Logprobs < 0 || *cr.Logprobs > maxCompletionLogprobs):
		return fail("logprobs", "logprobs must be between 0 and %d, got %d", maxCompletionLogprobs, *cr.Logprobs)
	case cr.MaxTokens != nil && (*cr.MaxTokens < 1 || *cr.MaxTokens > maxMaxTokens):
		return fail("max_tokens", "max_tokens must be between 1 and %d, got %d", maxMaxTokens, *cr.MaxTokens)
	case cr.Temperature != nil && (*cr.Temperature < 0 || *cr.Temperature > 2):
		return fail("temperature", "temperature must be between 0 and 2, got %v", *cr.Temperature)
	}
	req := cascade.Request{Temperature: cr.Temperature, Messages: []models.Message{{Role: "user", Content: prompt}}}
	if cr.MaxTokens != nil {
		req.MaxTokens = *cr.MaxTokens
	}
	if cr.Suffix != "" {
		req.Completion = &models.Completion{Prompt: prompt, Suffix: cr.Suffix}
	}
	// The options shared with chat are validated by the chat's rules.
	chat := chatRequest{Stop: cr.Stop, Seed: cr.Seed, TopP: cr.TopP, FrequencyPenalty: cr.FrequencyPenalty,
		PresencePenalty: cr.PresencePenalty, User: cr.User}
	if cr.Logprobs != nil {
		yes, top := true, *cr.Logprobs
		chat.Logprobs, chat.TopLogprobs = &yes, &top
	}
	if err := openAIOptions(&chat, &req); err != nil {
		return nil, "", cascade.Request{}, err
	}
	return &cr, policy, req, nil
}

type completionResponse struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   *chatUsage         `json:"usage,omitempty"`
	Cascade *cascade.Decision  `json:"cascade,omitempty"`
}

type completionChoice struct {
	Text         string          `json:"text"`
	Index        int             `json:"index"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

// legacyLogprobs is the legacy completions' logprobs object: parallel
// arrays of the tokens, their log probabilities, their top alternatives (a
// map from token to log probability) and their offsets in the text.
type legacyLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float64            `json:"token_logprobs"`
	TopLogprobs   []map[string]float64 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

// formatLegacyLogprobs renders toks with at most top alternatives each,
// offsets counted from offset; null when there are none.
func formatLegacyLogprobs(toks []models.TokenLogprob, top, offset int) json.RawMessage {
	if len(toks) == 0 {
		return jsonNull
	}
	out := legacyLogprobs{}
	for _, t := range toks {
		out.Tokens = append(out.Tokens, t.Token)
		out.TokenLogprobs = append(out.TokenLogprobs, t.Logprob)
		alts := map[string]float64{}
		for j, a := range t.Top {
			if j >= top {
				break
			}
			alts[a.Token] = a.Logprob
		}
		out.TopLogprobs = append(out.TopLogprobs, alts)
		out.TextOffset = append(out.TextOffset, offset)
		offset += len(t.Token)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return jsonNull
	}
	return b
}

func (s *Server) handleCompletions(w http.ResponseWriter, r *http.Request) {
	var (
		cr     *completionRequest
		policy cascade.Policy
		req    cascade.Request
	)
	body, err := s.readOllama(w, r)
	if err == nil {
		cr, policy, req, err = parseCompletionRequest(body)
	}
	if err == nil {
		policy, err = cr.Cascade.apply(r.Header, policy, &req)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info(r.Context()).policy = policy
	req.ID = newCompletionID()
	s.autoGroup(r.Context(), policy, &req)
	if cr.Stream {
		s.streamCompletion(w, r, cr, policy, req)
		return
	}
	res, err := s.cascade.Answer(r.Context(), policy, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.logResult(r.Context(), policy, req, res)
	d := res.Decision
	setDecisionHeaders(w.Header(), d)
	finish := res.FinishReason
	lp := jsonNull
	if req.Logprobs {
		lp = formatLegacyLogprobs(res.Logprobs, req.TopLogprobs, 0)
	}
	s.writeJSON(w, r, http.StatusOK, completionResponse{
		ID: req.ID, Object: "text_completion", Created: s.now().Unix(), Model: cr.Model,
		Choices: []completionChoice{{Text: res.Content, Logprobs: lp, FinishReason: &finish}},
		Usage:   usageOf(res.Usage), Cascade: &d,
	})
}

// completionEmitter streams text_completion chunks.
type completionEmitter struct {
	*sseEmitter
	offset int // the text's length so far, for text_offset
}

func (e *completionEmitter) chunk(text string, lp json.RawMessage, finish *string) completionResponse {
	if lp == nil {
		lp = jsonNull
	}
	return completionResponse{ID: e.id, Object: "text_completion", Created: e.created, Model: e.model,
		Choices: []completionChoice{{Text: text, Logprobs: lp, FinishReason: finish}}}
}

func (e *completionEmitter) Begin(d cascade.Decision) error {
	e.open(d)
	c := e.chunk("", nil, nil)
	c.Cascade = &d
	return e.write(c)
}

func (e *completionEmitter) Delta(text string) error {
	e.offset += len(text)
	return e.write(e.chunk(text, nil, nil))
}

// DeltaLogprobs implements cascade.LogprobEmitter.
func (e *completionEmitter) DeltaLogprobs(text string, toks []models.TokenLogprob) error {
	c := e.chunk(text, formatLegacyLogprobs(toks, e.top, e.offset), nil)
	e.offset += len(text)
	return e.write(c)
}

func (s *Server) streamCompletion(w http.ResponseWriter, r *http.Request, cr *completionRequest, policy cascade.Policy, req cascade.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, errors.New("streaming unsupported by the connection"))
		return
	}
	e := &completionEmitter{sseEmitter: &sseEmitter{w: w, flusher: flusher, id: req.ID, model: cr.Model, created: s.now().Unix(), top: req.TopLogprobs}}
	res, err := s.cascade.Stream(r.Context(), policy, req, e)
	if err != nil {
		if !e.began {
			s.writeError(w, r, err)
			return
		}
		noteError(r.Context(), err)
		_, body := statusOf(err)
		_ = e.write(body)
		return
	}
	s.logResult(r.Context(), policy, req, res)
	finish := res.FinishReason
	last := e.chunk("", nil, &finish)
	if policy == cascade.PolicyLocal || req.Completion != nil || res.Decision.Route == cascade.RouteCloud {
		// The score of a live local stream, and the provider that
		// answered, are known only at the end.
		d := res.Decision
		last.Cascade = &d
	}
	if err := e.write(last); err != nil {
		return
	}
	if cr.StreamOptions != nil && cr.StreamOptions.IncludeUsage {
		u := e.chunk("", nil, nil)
		u.Choices = []completionChoice{}
		u.Usage = usageOf(res.Usage)
		if err := e.write(u); err != nil {
			return
		}
	}
	_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
	flusher.Flush()
}
