// Package openai is a cloud.Provider for OpenAI and any server that speaks
// OpenAI's chat completions API (vLLM, llama.cpp, Ollama's /v1, OpenRouter,
// Groq, ...). It is built on the official SDK, github.com/openai/openai-go/v3.
//
// Only the SDK's services are used, never openai.NewClient: the client reads
// OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORG_ID and more from the
// environment, which would send an ambient OpenAI key to whatever server
// BaseURL names. Everything this package sends comes from Config.
//
// Retries are the SDK's own (option.WithMaxRetries): exponential backoff from
// 0.5s with jitter, honouring Retry-After-Ms and Retry-After. Waits are capped
// at min(8s, Timeout/2); a server-directed wait above the cap stops retrying
// and returns the server's error (see maxRetryDelay).
// The SDK retries connection errors, 408, 409, 429 and 5xx; this package adds
// a middleware that forbids retrying any 4xx other than 429. An attempt that
// runs out of Config.Timeout is not retried.
package openai

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
)

// ProviderName is what Name returns and what errors carry.
const ProviderName = "openai"

// Defaults a configuration layer can use; New itself applies only
// DefaultTimeout, and only when Timeout is zero.
const (
	// DefaultTimeout bounds one HTTP attempt, streamed body included.
	DefaultTimeout = 60 * time.Second
	// DefaultMaxRetries is the SDK's default number of retries.
	DefaultMaxRetries = 2
	// PingTimeout bounds Ping (it is shortened to Timeout when that is less).
	PingTimeout = 10 * time.Second
)

// Config configures a Client.
type Config struct {
	// BaseURL is the API root including its version path, for example
	// https://api.openai.com/v1 or http://127.0.0.1:11434/v1 (Ollama).
	BaseURL string
	// Model is the model name sent with every request (required).
	Model string
	// APIKey is sent as "Authorization: Bearer <key>". Empty is allowed for
	// self-hosted servers: then no Authorization header is sent at all.
	APIKey string
	// Timeout bounds each HTTP attempt, including reading a streamed body.
	// Zero means DefaultTimeout; negative is an error.
	Timeout time.Duration
	// MaxRetries is how many times a failed attempt (connection error, 429,
	// 5xx) is retried. Zero disables retries; negative is an error.
	MaxRetries int
	// HTTPClient replaces the HTTP client; nil uses a client of its own
	// built on http.DefaultTransport.
	HTTPClient *http.Client
}

// String describes the configuration without the API key.
func (c Config) String() string {
	key := "none"
	if c.APIKey != "" {
		key = redacted
	}
	return fmt.Sprintf("openai.Config{BaseURL:%q Model:%q APIKey:%s Timeout:%s MaxRetries:%d}",
		c.BaseURL, c.Model, key, c.Timeout, c.MaxRetries)
}

// GoString keeps %#v from printing the API key.
func (c Config) GoString() string { return c.String() }

// LogValue keeps slog from printing the API key.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", c.BaseURL),
		slog.String("model", c.Model),
		slog.Bool("api_key_set", c.APIKey != ""),
		slog.Duration("timeout", c.Timeout),
		slog.Int("max_retries", c.MaxRetries),
	)
}

// Validate reports the first invalid setting, naming it.
func (c Config) Validate() error {
	if c.Model == "" {
		return errors.New("openai config: model is required")
	}
	if c.BaseURL == "" {
		return errors.New("openai config: base URL is required (for example https://api.openai.com/v1)")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return fmt.Errorf("openai config: base URL %q: %w", c.BaseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("openai config: base URL %q: scheme must be http or https", c.BaseURL)
	}
	if u.Host == "" {
		return fmt.Errorf("openai config: base URL %q: missing host", c.BaseURL)
	}
	if u.User != nil {
		return fmt.Errorf("openai config: base URL must not carry credentials; use the API key setting")
	}
	if c.Timeout < 0 {
		return fmt.Errorf("openai config: timeout %s: must be positive, or zero for the default %s", c.Timeout, DefaultTimeout)
	}
	if c.MaxRetries < 0 {
		return fmt.Errorf("openai config: max retries %d: must be zero or more", c.MaxRetries)
	}
	return nil
}

// Client is an OpenAI-compatible cloud provider. It is safe for concurrent use.
type Client struct {
	model   string
	apiKey  string // kept only to scrub it from error messages
	timeout time.Duration
	chat    openai.ChatCompletionService
	models  openai.ModelService
}

var _ cloud.Provider = (*Client)(nil)

// New validates cfg and returns a client. It makes no request.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport}
	}
	opts := []option.RequestOption{
		option.WithBaseURL(cfg.BaseURL),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(cfg.MaxRetries),
		option.WithMaxRetryDelay(maxRetryDelay(cfg.Timeout)),
		option.WithRequestTimeout(cfg.Timeout),
	}
	if cfg.APIKey != "" {
		opts = append(opts, option.WithAPIKey(cfg.APIKey))
	}
	return &Client{
		model:   cfg.Model,
		apiKey:  cfg.APIKey,
		timeout: cfg.Timeout,
		chat:    openai.NewChatCompletionService(opts...),
		models:  openai.NewModelService(opts...),
	}, nil
}

// maxRetryDelay bounds the wait before a retry to half the per-attempt
// timeout, and to the SDK's usual 8s backoff cap. The SDK waits inside the
// context of the attempt that failed, so a longer wait would only end in a
// timeout that hides the server's answer; a Retry-After above the bound makes
// the SDK return the 429 or 5xx at once instead.
func maxRetryDelay(timeout time.Duration) time.Duration {
	return max(min(8*time.Second, timeout/2), time.Millisecond)
}

// Name returns "openai".
func (c *Client) Name() string { return ProviderName }

// Model returns the configured model name.
func (c *Client) Model() string { return c.model }

// String names the client without its API key.
func (c *Client) String() string { return fmt.Sprintf("openai(%s)", c.model) }

// GoString keeps %#v from printing the API key.
func (c *Client) GoString() string { return c.String() }

// Complete sends a non-streaming chat completion and returns the first choice.
func (c *Client) Complete(ctx context.Context, req cloud.Request) (*cloud.Response, error) {
	params, err := c.params(req)
	if err != nil {
		return nil, fmt.Errorf("openai complete: %w", err)
	}
	var tr tracker
	var raw *http.Response
	out, err := c.chat.New(ctx, params, tr.option(), option.WithResponseInto(&raw))
	if err != nil {
		return nil, c.callError(ctx, "complete", err, raw, &tr, c.timeout)
	}
	if len(out.Choices) == 0 {
		return nil, c.wrap(0, "complete", errors.New("response has no choices"))
	}
	choice := out.Choices[0]
	return &cloud.Response{
		Provider:     ProviderName,
		Model:        c.modelOr(out.Model),
		Content:      choice.Message.Content,
		FinishReason: choice.FinishReason,
		Usage: cloud.Usage{
			PromptTokens:     int(out.Usage.PromptTokens),
			CompletionTokens: int(out.Usage.CompletionTokens),
		},
		Logprobs:  logprobs(choice.Logprobs.Content),
		ToolCalls: toolCalls(choice.Message.ToolCalls),
		NotSent:   notSent(req),
	}, nil
}

// logprobs converts the provider's token log probabilities; nil when it
// sent none.
func logprobs(in []openai.ChatCompletionTokenLogprob) []models.TokenLogprob {
	if len(in) == 0 {
		return nil
	}
	out := make([]models.TokenLogprob, len(in))
	for i, t := range in {
		out[i] = models.TokenLogprob{Token: t.Token, Logprob: t.Logprob}
		for _, a := range t.TopLogprobs {
			out[i].Top = append(out[i].Top, models.TopLogprob{Token: a.Token, Logprob: a.Logprob})
		}
	}
	return out
}

// Stream sends a streaming chat completion (Server-Sent Events), calls fn
// with each content delta of the first choice and returns the whole answer.
// A chunk's token logprobs go to req.LogprobsFunc, when set, before its
// text goes to fn.
// It asks for stream_options.include_usage, so Usage is filled when the
// server sends the final usage chunk (servers that ignore the option leave it
// zero). A stream that ends without "data: [DONE]", carries an error event or
// a chunk that is not valid JSON returns an error, never a partial answer.
// An error returned by fn stops the stream and is returned wrapped, but not as
// a *cloud.Error: the provider did not fail.
func (c *Client) Stream(ctx context.Context, req cloud.Request, fn cloud.DeltaFunc) (*cloud.Response, error) {
	params, err := c.params(req)
	if err != nil {
		return nil, fmt.Errorf("openai stream: %w", err)
	}
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}

	// This is ChatCompletionService.NewStreaming spelled out: NewStreaming
	// gives no way to tell "data: [DONE]" from a connection closed early (the
	// SDK's Stream ends cleanly on both). The same request, the SDK's own SSE
	// decoder and Stream are used; doneDecoder only notes the [DONE] event.
	var tr tracker
	var raw *http.Response
	_, err = c.chat.New(ctx, params, tr.option(),
		option.WithJSONSet("stream", true),
		option.WithResponseBodyInto(&raw))
	if err != nil {
		cerr := c.callError(ctx, "stream", err, raw, &tr, c.timeout)
		if raw != nil && raw.Body != nil {
			_ = raw.Body.Close()
		}
		return nil, cerr
	}
	if raw == nil || raw.Body == nil {
		return nil, c.wrap(0, "stream", errors.New("no response body"))
	}
	dec := &doneDecoder{Decoder: ssestream.NewDecoder(raw)}
	stream := ssestream.NewStream[openai.ChatCompletionChunk](dec, nil)
	defer stream.Close()

	resp := &cloud.Response{Provider: ProviderName, Model: c.model, NotSent: notSent(req)}
	var content []byte
	var calls toolCallAcc
	for stream.Next() {
		chunk := stream.Current()
		if chunk.Model != "" {
			resp.Model = chunk.Model
		}
		if chunk.JSON.Usage.Valid() {
			resp.Usage = cloud.Usage{
				PromptTokens:     int(chunk.Usage.PromptTokens),
				CompletionTokens: int(chunk.Usage.CompletionTokens),
			}
		}
		for _, choice := range chunk.Choices {
			if choice.Index != 0 {
				continue
			}
			if choice.FinishReason != "" {
				resp.FinishReason = choice.FinishReason
			}
			toks := logprobs(choice.Logprobs.Content)
			resp.Logprobs = append(resp.Logprobs, toks...)
			if len(toks) > 0 && req.LogprobsFunc != nil {
				if err := req.LogprobsFunc(toks); err != nil {
					return nil, fmt.Errorf("openai stream: deliver logprobs: %w", err)
				}
			}
			calls.add(choice.Delta.ToolCalls)
			if d := choice.Delta.Content; d != "" {
				content = append(content, d...)
				if fn != nil {
					if err := fn(d); err != nil {
						return nil, fmt.Errorf("openai stream: deliver delta: %w", err)
					}
				}
			}
		}
	}
	if err := stream.Err(); err != nil {
		return nil, c.streamError(ctx, err, &tr)
	}
	if !dec.done {
		return nil, c.wrap(0, "stream", fmt.Errorf("stream ended before [DONE] after %d bytes of content", len(content)))
	}
	resp.Content = string(content)
	resp.ToolCalls = calls.result()
	return resp, nil
}

// Ping lists the server's models, which checks reachability and credentials.
// It is bounded by PingTimeout (or Timeout when shorter) and is not retried.
func (c *Client) Ping(ctx context.Context) error {
	d := min(PingTimeout, c.timeout)
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var tr tracker
	var raw *http.Response
	_, err := c.models.List(pctx, tr.option(), option.WithMaxRetries(0), option.WithResponseInto(&raw))
	if err != nil {
		return c.callError(ctx, "ping", err, raw, &tr, d)
	}
	return nil
}

// params converts a cloud request. max_completion_tokens carries MaxTokens:
// OpenAI deprecated max_tokens and rejects it for reasoning models; servers
// that only know max_tokens (Ollama's /v1) ignore the cap.
func (c *Client) params(req cloud.Request) (openai.ChatCompletionNewParams, error) {
	if len(req.Messages) == 0 {
		return openai.ChatCompletionNewParams{}, errors.New("request has no messages")
	}
	if req.MaxTokens < 0 {
		return openai.ChatCompletionNewParams{}, fmt.Errorf("max tokens %d: must be zero or more", req.MaxTokens)
	}
	msgs, err := messages(req.Messages)
	if err != nil {
		return openai.ChatCompletionNewParams{}, err
	}
	p := openai.ChatCompletionNewParams{Model: c.model, Messages: msgs}
	if req.MaxTokens > 0 {
		p.MaxCompletionTokens = openai.Int(int64(req.MaxTokens))
	}
	if req.Temperature != nil {
		p.Temperature = openai.Float(*req.Temperature)
	}
	setOptions(&p, req)
	if err := setTools(&p, req.Options); err != nil {
		return openai.ChatCompletionNewParams{}, err
	}
	return p, nil
}

// setOptions passes the client's generation options and the log
// probabilities it asked for.
func setOptions(p *openai.ChatCompletionNewParams, req cloud.Request) {
	o := req.Options
	if len(o.Stop) > 0 {
		p.Stop = openai.ChatCompletionNewParamsStopUnion{OfStringArray: o.Stop}
	}
	if o.Seed != nil {
		p.Seed = openai.Int(*o.Seed)
	}
	if o.TopP != nil {
		p.TopP = openai.Float(*o.TopP)
	}
	if o.User != "" {
		p.User = openai.String(o.User)
	}
	if o.FrequencyPenalty != nil {
		p.FrequencyPenalty = openai.Float(*o.FrequencyPenalty)
	}
	if o.PresencePenalty != nil {
		p.PresencePenalty = openai.Float(*o.PresencePenalty)
	}
	if f := o.Format; f != nil {
		if len(f.Schema) == 0 {
			p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}
		} else {
			js := shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: f.Name, Schema: f.Schema}
			if js.Name == "" {
				js.Name = "response"
			}
			if f.Strict {
				js.Strict = openai.Bool(true)
			}
			if f.Description != "" {
				js.Description = openai.String(f.Description)
			}
			p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{JSONSchema: js}}
		}
	}
	if req.Logprobs {
		p.Logprobs = openai.Bool(true)
		if req.TopLogprobs > 0 {
			p.TopLogprobs = openai.Int(int64(req.TopLogprobs))
		}
	}
}

// notSent names the request's options the chat completions API cannot
// take: top_k (OpenAI has none), so the decision's reason can say it was
// not honoured.
func notSent(req cloud.Request) []string {
	if req.TopK != nil {
		return []string{"top_k"}
	}
	return nil
}

func messages(in []models.Message) ([]openai.ChatCompletionMessageParamUnion, error) {
	out := make([]openai.ChatCompletionMessageParamUnion, 0, len(in))
	for i, m := range in {
		switch m.Role {
		case "system":
			out = append(out, openai.SystemMessage(m.Content))
		case "developer":
			out = append(out, openai.DeveloperMessage(m.Content))
		case "user":
			out = append(out, userMessage(m))
		case "assistant":
			out = append(out, assistantMessage(m))
		case "tool":
			out = append(out, openai.ToolMessage(m.Content, m.ToolCallID))
		default:
			return nil, fmt.Errorf("message %d: unsupported role %q (want system, developer, user, assistant or tool)", i, m.Role)
		}
	}
	return out, nil
}

func (c *Client) modelOr(m string) string {
	if m != "" {
		return m
	}
	return c.model
}

// doneDecoder passes the SDK's SSE events through and notes "data: [DONE]".
type doneDecoder struct {
	ssestream.Decoder
	done bool
}

func (d *doneDecoder) Next() bool {
	if d.Decoder == nil || !d.Decoder.Next() {
		return false
	}
	if isDone(d.Decoder.Event().Data) {
		d.done = true
	}
	return true
}

func (d *doneDecoder) Close() error {
	if d.Decoder == nil {
		return nil
	}
	return d.Decoder.Close()
}

func (d *doneDecoder) Err() error {
	if d.Decoder == nil {
		return errors.New("no event stream")
	}
	return d.Decoder.Err()
}

func (d *doneDecoder) Event() ssestream.Event {
	if d.Decoder == nil {
		return ssestream.Event{}
	}
	return d.Decoder.Event()
}

// isDone matches the data the SDK's Stream treats as the end of the stream.
func isDone(data []byte) bool {
	const done = "[DONE]"
	return len(data) >= len(done) && string(data[:len(done)]) == done
}
