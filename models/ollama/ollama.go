// Package ollama is the local-model backend for an Ollama server, built on
// Ollama's official Go client (github.com/ollama/ollama/api): its wire types
// everywhere, its client for everything but /api/chat, which is read with a
// lean NDJSON reader (stream.go). Answers come from /api/chat with logprobs
// and top_logprobs (Ollama >= 0.12.11).
package ollama

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/edgecascade/edgecascade/models"
)

const backendName = "ollama"

// Config configures a Client.
type Config struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:11434.
	URL string
	// Model is the model name as Ollama knows it.
	Model string
	// Timeout bounds one generation; 0 means no bound beyond the context.
	Timeout time.Duration
	// HTTPClient is optional.
	HTTPClient *http.Client
}

// Client talks to one model on one Ollama server.
type Client struct {
	api     *api.Client
	base    *url.URL
	http    *http.Client
	model   string
	url     string
	timeout time.Duration
	caps    capsCache
}

var _ models.Model = (*Client)(nil)

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Model == "" {
		return nil, errors.New("ollama: model name is empty")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("ollama: invalid url %q: want http://host:port", cfg.URL)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{api: api.NewClient(u, hc), base: u, http: hc, model: cfg.Model, url: cfg.URL, timeout: cfg.Timeout}, nil
}

// Name returns the model name.
func (c *Client) Name() string { return c.model }

// API exposes the underlying Ollama client (for embeddings and model details).
func (c *Client) API() *api.Client { return c.api }

// Chat generates a complete answer.
func (c *Client) Chat(ctx context.Context, req models.Request) (*models.Response, error) {
	return c.chat(ctx, req, nil)
}

// ChatStream generates an answer, calling fn for each piece.
func (c *Client) ChatStream(ctx context.Context, req models.Request, fn models.ChunkFunc) (*models.Response, error) {
	if fn == nil {
		return nil, errors.New("ollama: nil chunk func")
	}
	return c.chat(ctx, req, fn)
}

func (c *Client) chat(ctx context.Context, req models.Request, fn models.ChunkFunc) (*models.Response, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	stream := fn != nil
	areq := &api.ChatRequest{
		Model:       c.model,
		Messages:    make([]api.Message, len(req.Messages)),
		Stream:      &stream,
		Logprobs:    true,
		TopLogprobs: req.TopLogprobs,
		Options:     map[string]any{},
	}
	for i, m := range req.Messages {
		am, err := message(m)
		if err != nil {
			return nil, &models.Error{Backend: backendName, Model: c.model, Kind: models.ErrBadRequest, Err: fmt.Errorf("message %d: %w", i, err)}
		}
		areq.Messages[i] = am
	}
	if err := setTools(areq, req.Options); err != nil {
		return nil, &models.Error{Backend: backendName, Model: c.model, Kind: models.ErrBadRequest, Err: err}
	}
	if req.MaxTokens > 0 {
		areq.Options["num_predict"] = req.MaxTokens
	}
	if req.Temperature != nil {
		areq.Options["temperature"] = *req.Temperature
	}
	areq.Format, areq.KeepAlive = setOptions(areq.Options, req.Options)
	send := c.chatStream
	if req.Completion != nil {
		send = func(ctx context.Context, areq *api.ChatRequest, fn func(api.ChatResponse) error) error {
			return c.generateStream(ctx, generateRequest(areq, req.Completion), fn)
		}
	}

	out := &models.Response{Model: c.model}
	var sb strings.Builder
	var chunkErr error
	var calls []api.ToolCall
	err := send(ctx, areq, func(r api.ChatResponse) error {
		toks := convertLogprobs(r.Logprobs)
		sb.WriteString(r.Message.Content)
		calls = append(calls, r.Message.ToolCalls...)
		out.Tokens = append(out.Tokens, toks...)
		if r.Done {
			out.FinishReason = finishReason(r.DoneReason)
			out.PromptTokens = r.PromptEvalCount
			out.CompletionTokens = r.EvalCount
			out.Timings = models.Timings{Total: r.TotalDuration, Load: r.LoadDuration, PromptEval: r.PromptEvalDuration, Eval: r.EvalDuration}
		}
		if fn != nil && (r.Message.Content != "" || len(toks) > 0) {
			if err := fn(models.Chunk{Content: r.Message.Content, Tokens: toks}); err != nil {
				chunkErr = err
				return err
			}
		}
		return nil
	})
	if chunkErr != nil {
		return nil, chunkErr
	}
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	if out.FinishReason == "" {
		return nil, c.wrap(ctx, errors.New("stream ended before the answer was complete"))
	}
	out.Content = sb.String()
	if len(calls) > 0 {
		if out.ToolCalls, err = toolCalls(calls); err != nil {
			return nil, c.wrap(ctx, err)
		}
		out.FinishReason = "tool_calls"
	}
	return out, nil
}

// Ping checks that the server is up and has the model.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.api.Heartbeat(ctx); err != nil {
		return c.wrap(ctx, err)
	}
	if _, err := c.api.Show(ctx, &api.ShowRequest{Model: c.model}); err != nil {
		return c.wrap(ctx, err)
	}
	return nil
}

// Digest returns the model's digest as the server reports it in /api/tags,
// or "" when the model is not listed.
func (c *Client) Digest(ctx context.Context) (string, error) {
	list, err := c.api.List(ctx)
	if err != nil {
		return "", c.wrap(ctx, err)
	}
	for _, m := range list.Models {
		if m.Name == c.model || m.Model == c.model || strings.TrimSuffix(m.Name, ":latest") == c.model {
			return m.Digest, nil
		}
	}
	return "", nil
}

func (c *Client) wrap(ctx context.Context, err error) error {
	e := &models.Error{Backend: backendName, Model: c.model, Err: err, Kind: models.ErrUnavailable}
	var se api.StatusError
	switch {
	case errors.As(err, &se) && se.StatusCode == http.StatusNotFound:
		e.Kind = models.ErrModelNotFound
		e.Err = errors.New(se.ErrorMessage)
		e.Hint = fmt.Sprintf("import it with `ollama pull %s` or `ollama create %s -f Modelfile`", c.model, c.model)
	case errors.As(err, &se) && se.StatusCode >= 400 && se.StatusCode < 500:
		e.Kind = models.ErrBadRequest
		e.Err = errors.New(se.ErrorMessage)
	case errors.As(err, &se):
		e.Err = fmt.Errorf("status %d: %s", se.StatusCode, se.ErrorMessage)
	case ctx.Err() != nil:
		e.Err = ctx.Err()
	default:
		var ne net.Error
		var oe *net.OpError
		if errors.As(err, &oe) || errors.As(err, &ne) {
			e.Hint = fmt.Sprintf("is `ollama serve` running at %s?", c.url)
		}
	}
	return e
}

func finishReason(done string) string {
	switch done {
	case "length":
		return "length"
	default:
		return "stop"
	}
}

func convertLogprobs(lps []api.Logprob) []models.TokenLogprob {
	if len(lps) == 0 {
		return nil
	}
	out := make([]models.TokenLogprob, len(lps))
	for i, lp := range lps {
		out[i] = models.TokenLogprob{Token: lp.Token, Logprob: lp.Logprob}
		if len(lp.TopLogprobs) > 0 {
			out[i].Top = make([]models.TopLogprob, len(lp.TopLogprobs))
			for j, t := range lp.TopLogprobs {
				out[i].Top[j] = models.TopLogprob{Token: t.Token, Logprob: t.Logprob}
			}
		}
	}
	return out
}

// setOptions puts the client's generation options into Ollama's options and
// returns its format (a schema, or "json" for any JSON) and keep_alive.
func setOptions(opts map[string]any, o models.Options) (json.RawMessage, *api.Duration) {
	if len(o.Stop) > 0 {
		opts["stop"] = o.Stop
	}
	if o.Seed != nil {
		opts["seed"] = *o.Seed
	}
	if o.TopP != nil {
		opts["top_p"] = *o.TopP
	}
	if o.TopK != nil {
		opts["top_k"] = *o.TopK
	}
	if o.NumCtx > 0 {
		opts["num_ctx"] = o.NumCtx
	}
	if o.FrequencyPenalty != nil {
		opts["frequency_penalty"] = *o.FrequencyPenalty
	}
	if o.PresencePenalty != nil {
		opts["presence_penalty"] = *o.PresencePenalty
	}
	var format json.RawMessage
	if o.Format != nil {
		format = json.RawMessage(`"json"`)
		if len(o.Format.Schema) > 0 {
			format = o.Format.Schema
		}
	}
	var keepAlive *api.Duration
	if o.KeepAlive != nil {
		keepAlive = &api.Duration{Duration: *o.KeepAlive}
	}
	return format, keepAlive
}

// generateRequest is the /api/generate request of a completion, with the
// chat request's options: the prompt (raw, or through the template's
// insert support with a suffix) instead of the messages.
func generateRequest(areq *api.ChatRequest, c *models.Completion) *api.GenerateRequest {
	return &api.GenerateRequest{
		Model: areq.Model, Prompt: c.Prompt, Suffix: c.Suffix, Raw: c.Raw, System: c.System,
		Stream: areq.Stream, Format: areq.Format, KeepAlive: areq.KeepAlive, Options: areq.Options,
		Logprobs: areq.Logprobs, TopLogprobs: areq.TopLogprobs,
	}
}
