package llamacpp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/edgecascade/edgecascade/models"
)

// chatRequest is the body of POST /v1/chat/completions. llama-server turns
// `logprobs: true` into n_probs = top_logprobs (tools/server/server-common.cpp,
// oaicompat_chat_params_parse), and n_probs 0 means no log-probabilities at
// all, so at least one alternative is always requested.
type chatRequest struct {
	Model         string         `json:"model,omitempty"`
	Messages      []wireMessage  `json:"messages"`
	Stream        bool           `json:"stream"`
	StreamOptions *streamOptions `json:"stream_options,omitempty"`
	Logprobs      bool           `json:"logprobs"`
	TopLogprobs   int            `json:"top_logprobs"`
	MaxTokens     int            `json:"max_tokens,omitempty"`
	Temperature   *float64       `json:"temperature,omitempty"`
	sampling
	ResponseFormat *responseFormat `json:"response_format,omitempty"`
	// Tools, as OpenAI names them (tools.go).
	Tools             []wireTool `json:"tools,omitempty"`
	ToolChoice        any        `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool      `json:"parallel_tool_calls,omitempty"`
}

// sampling is the client's generation options, as llama-server's
// OpenAI-compatible endpoints (chat and completions) name them.
type sampling struct {
	Stop             []string `json:"stop,omitempty"`
	Seed             *int64   `json:"seed,omitempty"`
	TopP             *float64 `json:"top_p,omitempty"`
	TopK             *int     `json:"top_k,omitempty"`
	FrequencyPenalty *float64 `json:"frequency_penalty,omitempty"`
	PresencePenalty  *float64 `json:"presence_penalty,omitempty"`
}

func samplingOf(o models.Options) sampling {
	return sampling{Stop: o.Stop, Seed: o.Seed, TopP: o.TopP, TopK: o.TopK,
		FrequencyPenalty: o.FrequencyPenalty, PresencePenalty: o.PresencePenalty}
}

// responseFormat is OpenAI's response_format, which llama-server turns into
// a grammar.
type responseFormat struct {
	Type       string          `json:"type"`
	JSONSchema *jsonSchemaSpec `json:"json_schema,omitempty"`
}

type jsonSchemaSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema"`
	Strict      bool            `json:"strict,omitempty"`
}

// streamOptions asks for the final usage chunk (choices: [], usage, timings).
type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

func (c *Client) chatBody(req models.Request, stream bool) chatRequest {
	body := chatRequest{
		Model:       c.model,
		Messages:    wireMessages(req.Messages),
		Stream:      stream,
		Logprobs:    true,
		TopLogprobs: max(req.TopLogprobs, 1),
		Temperature: req.Temperature,
		sampling:    samplingOf(req.Options),
	}
	if f := req.Format; f != nil {
		body.ResponseFormat = &responseFormat{Type: "json_object"}
		if len(f.Schema) > 0 {
			name := f.Name
			if name == "" {
				name = "response"
			}
			body.ResponseFormat = &responseFormat{Type: "json_schema", JSONSchema: &jsonSchemaSpec{Name: name, Description: f.Description, Schema: f.Schema, Strict: f.Strict}}
		}
	}
	if req.MaxTokens > 0 {
		body.MaxTokens = req.MaxTokens
	}
	setTools(&body, req.Options)
	if stream {
		body.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	return body
}

// completionRequest is the body of POST /v1/completions, for a raw
// completion: the prompt continued as is, without the chat template.
// llama-server takes logprobs as n_probs there, and a JSON schema as
// json_schema (params_from_json_cmpl turns it into a grammar).
type completionRequest struct {
	Model       string   `json:"model,omitempty"`
	Prompt      string   `json:"prompt"`
	Stream      bool     `json:"stream"`
	Logprobs    int      `json:"logprobs"`
	MaxTokens   int      `json:"max_tokens,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	sampling
	JSONSchema json.RawMessage `json:"json_schema,omitempty"`
}

// requestBody is the path and body of req: a chat (a completion through the
// template is one: Messages hold its prompt), or a raw completion.
func (c *Client) requestBody(req models.Request, stream bool) (string, any) {
	if req.Completion == nil || !req.Completion.Raw {
		return pathChat, c.chatBody(req, stream)
	}
	body := completionRequest{
		Model: c.model, Prompt: req.Completion.Prompt, Stream: stream, Logprobs: max(req.TopLogprobs, 1),
		MaxTokens: max(req.MaxTokens, 0), Temperature: req.Temperature, sampling: samplingOf(req.Options),
	}
	if f := req.Format; f != nil {
		body.JSONSchema = f.Schema
		if len(body.JSONSchema) == 0 {
			body.JSONSchema = json.RawMessage(`{"type":"object"}`)
		}
	}
	return pathComplete, body
}

// chatResponse is a chat completion or one stream chunk
// (tools/server/server-task.cpp, to_json_oaicompat_chat*). A chunk may
// instead carry {"error": {...}} when generation fails mid-stream.
type chatResponse struct {
	Model   string          `json:"model"`
	Choices []chatChoice    `json:"choices"`
	Usage   *usage          `json:"usage"`
	Timings *timings        `json:"timings"`
	Error   json.RawMessage `json:"error"`
}

type chatChoice struct {
	FinishReason *string      `json:"finish_reason"`
	Message      *chatMessage `json:"message"`
	Delta        *chatMessage `json:"delta"`
	// Text is a completion's text (/v1/completions), instead of Message
	// and Delta.
	Text     *string   `json:"text"`
	Logprobs *logprobs `json:"logprobs"`
}

type chatMessage struct {
	Role      string         `json:"role"`
	Content   *string        `json:"content"`
	ToolCalls []wireToolCall `json:"tool_calls"`
}

type logprobs struct {
	Content []tokenLogprob `json:"content"`
}

// tokenLogprob is one generated token (completion_token_output::
// probs_vector_to_json): token is the text it added, cut to valid UTF-8, and
// bytes the same text as raw bytes.
type tokenLogprob struct {
	Token       string       `json:"token"`
	Logprob     float64      `json:"logprob"`
	Bytes       []int        `json:"bytes"`
	TopLogprobs []topLogprob `json:"top_logprobs"`
}

type topLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// timings is llama-server's own measurement (result_timings::to_json).
type timings struct {
	CacheN      int     `json:"cache_n"`
	PromptN     int     `json:"prompt_n"`
	PromptMS    float64 `json:"prompt_ms"`
	PredictedN  int     `json:"predicted_n"`
	PredictedMS float64 `json:"predicted_ms"`
}

// errIncomplete marks an answer that ended before the server finished it.
var errIncomplete = errors.New("stream ended before the answer was complete")

// errStopStream ends reading after `data: [DONE]`.
var errStopStream = errors.New("stream done")

// accumulator builds one models.Response from a completion or its chunks.
type accumulator struct {
	out      models.Response
	sb       strings.Builder
	topN     int
	stream   bool
	finished bool // a finish_reason arrived
	done     bool // `data: [DONE]` arrived
	usage    *usage
	timings  *timings
	calls    toolCallAcc
}

func newAccumulator(name string, topN int, stream bool) *accumulator {
	return &accumulator{out: models.Response{Model: name}, topN: max(topN, 0), stream: stream, calls: toolCallAcc{}}
}

// add folds in one completion (stream false) or one chunk (stream true),
// passing each chunk with text or tokens to emit when it is not nil.
func (a *accumulator) add(cr chatResponse, emit func(models.Chunk) error) error {
	if len(cr.Error) > 0 && string(cr.Error) != "null" {
		return parseStreamError(cr.Error)
	}
	if cr.Usage != nil {
		a.usage = cr.Usage
	}
	if cr.Timings != nil {
		a.timings = cr.Timings
	}
	if len(cr.Choices) == 0 {
		if !a.stream {
			return errors.New("chat response has no choices")
		}
		return nil // the usage chunk of a stream
	}
	ch := cr.Choices[0]
	msg := ch.Message
	if a.stream {
		msg = ch.Delta
	}
	var text string
	switch {
	case msg != nil && msg.Content != nil:
		text = *msg.Content
	case ch.Text != nil:
		text = *ch.Text
	}
	if msg != nil {
		a.calls.add(msg.ToolCalls)
	}
	var toks []models.TokenLogprob
	if ch.Logprobs != nil {
		toks = convertLogprobs(ch.Logprobs.Content, a.topN)
	}
	a.sb.WriteString(text)
	a.out.Tokens = append(a.out.Tokens, toks...)
	if ch.FinishReason != nil && *ch.FinishReason != "" {
		a.finished = true
		a.out.FinishReason = finishReason(*ch.FinishReason)
	}
	if emit != nil && (text != "" || len(toks) > 0) {
		return emit(models.Chunk{Content: text, Tokens: toks})
	}
	return nil
}

// result checks completeness and returns the answer.
func (a *accumulator) result() (*models.Response, error) {
	if !a.finished {
		return nil, errIncomplete
	}
	if a.stream && !a.done {
		return nil, errors.New("stream ended before data: [DONE]")
	}
	out := a.out
	out.Content = a.sb.String()
	if out.ToolCalls = a.calls.result(); out.ToolCalls != nil {
		out.FinishReason = "tool_calls"
	}
	if out.Content != "" && len(out.Tokens) == 0 {
		return nil, errNoLogprobs
	}
	switch {
	case a.usage != nil:
		out.PromptTokens = a.usage.PromptTokens
		out.CompletionTokens = a.usage.CompletionTokens
	case a.timings != nil:
		out.PromptTokens = a.timings.PromptN + a.timings.CacheN
		out.CompletionTokens = a.timings.PredictedN
	}
	if t := a.timings; t != nil {
		out.Timings = models.Timings{
			PromptEval: millis(t.PromptMS),
			Eval:       millis(t.PredictedMS),
			Total:      millis(t.PromptMS + t.PredictedMS),
		}
	}
	return &out, nil
}

// errNoLogprobs is an answer with text but no token log-probabilities: a
// llama-server too old to return OpenAI-style logprobs.
var errNoLogprobs = errors.New("answer has text but no token logprobs")

func millis(ms float64) time.Duration {
	if ms <= 0 {
		return 0
	}
	return time.Duration(ms * float64(time.Millisecond))
}

func finishReason(r string) string {
	if r == "length" {
		return "length"
	}
	return "stop" // "stop"; "tool_calls" is set from the calls themselves
}

// convertLogprobs converts llama-server's token list, keeping at most topN
// alternatives at each position. Entries that added no text (token and bytes
// both empty) are dropped: the end-of-generation token and tokens held back
// while a stop word might match. A non-streamed answer lists them, a stream
// never sends them (a chunk goes out only when the text changes), so
// dropping them makes Chat and ChatStream agree.
func convertLogprobs(in []tokenLogprob, topN int) []models.TokenLogprob {
	var out []models.TokenLogprob
	for _, lp := range in {
		if lp.Token == "" && len(lp.Bytes) == 0 {
			continue
		}
		t := models.TokenLogprob{Token: lp.Token, Logprob: lp.Logprob}
		if n := min(topN, len(lp.TopLogprobs)); n > 0 {
			t.Top = make([]models.TopLogprob, n)
			for j, alt := range lp.TopLogprobs[:n] {
				t.Top[j] = models.TopLogprob{Token: alt.Token, Logprob: alt.Logprob}
			}
		}
		out = append(out, t)
	}
	return out
}

// readSSE calls fn with the data of each Server-Sent Event in r until r ends
// or fn returns an error. Comment lines (": ping") are skipped; old servers
// sent failures as a non-standard "error:" field, read here as data.
func readSSE(r io.Reader, fn func(data []byte) error) error {
	br := bufio.NewReader(r)
	var data []byte
	var have bool
	dispatch := func() error {
		if !have {
			return nil
		}
		d := data
		data, have = nil, false
		return fn(d)
	}
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimRight(line, "\r\n")
			switch {
			case len(line) == 0:
				if derr := dispatch(); derr != nil {
					return derr
				}
			case line[0] == ':':
				// comment / keep-alive
			default:
				field, value, _ := bytes.Cut(line, []byte(":"))
				value = bytes.TrimPrefix(value, []byte(" "))
				switch string(field) {
				case "data":
					if have {
						data = append(data, '\n')
					}
					data, have = append(data, value...), true
				case "error":
					data, have = wrapErrorField(value), true
				}
			}
		}
		if err == io.EOF {
			return dispatch()
		}
		if err != nil {
			return err
		}
	}
}

// wrapErrorField turns an old-style "error: {...}" line into a chunk with an
// error member, so it goes through the same path as `data: {"error": ...}`.
func wrapErrorField(v []byte) []byte {
	if !json.Valid(v) {
		v, _ = json.Marshal(string(v))
	}
	return append(append([]byte(`{"error":`), v...), '}')
}
