// Package anthropic is a cloud.Provider for Anthropic's Messages API (Claude),
// and for servers that speak it. It is built on the official SDK,
// github.com/anthropics/anthropic-sdk-go/v2, which sends API version
// 2026-10-21 and the API key as "Authorization: Bearer <key>". That API
// version has no temperature parameter, so cloud.Request.Temperature is not
// sent; of the other generation options only Stop is (as stop_sequences) and
// User (as metadata.user_id): the Messages API has no seed, penalties,
// response format or top_k in that version, and current models reject top_p.
// Tools, the tool choice, tool calls, tool results and images
// are translated both ways (tools.go).
//
// Only the SDK's services are used, never anthropic.NewClient: the client reads
// ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN, ANTHROPIC_BASE_URL,
// ANTHROPIC_CUSTOM_HEADERS, ANTHROPIC_PROFILE, the federation variables and a
// profile file on disk, which would send an ambient credential to whatever
// server BaseURL names. Everything this package sends comes from Config. The
// SDK's OpenTelemetry spans are turned off, so its ANTHROPIC_OPEN_TELEMETRY_*
// variables do not apply either (with content mode, spans would carry prompts).
//
// Retries are the SDK's own (Config.MaxRetries): exponential backoff from 0.5s
// with jitter, honouring Retry-After-Ms and Retry-After. The SDK retries
// connection errors, 408, 409, 429 and 5xx (529 overloaded_error included);
// this package adds a middleware that forbids retrying any 4xx other than 429,
// and returns a 429 or 5xx at once when the server asks for a wait longer than
// min(8s, Timeout/2) (see maxRetryDelay). Config.Timeout bounds each attempt,
// streamed body included, and an attempt that runs out of it is not retried.
//
// Usage.PromptTokens counts every input token: input_tokens plus
// cache_creation_input_tokens and cache_read_input_tokens, which Anthropic
// reports apart (OpenAI's prompt_tokens includes cached tokens too).
package anthropic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
)

// ProviderName is what Name returns and what errors carry.
const ProviderName = "anthropic"

// Defaults a configuration layer can use. New applies DefaultBaseURL when
// BaseURL is empty, DefaultTimeout when Timeout is zero and DefaultMaxTokens
// when MaxTokens is zero; MaxRetries zero means no retries.
const (
	// DefaultBaseURL is Anthropic's API root (without /v1).
	DefaultBaseURL = "https://api.anthropic.com"
	// DefaultTimeout bounds one HTTP attempt, streamed body included.
	DefaultTimeout = 60 * time.Second
	// DefaultMaxRetries is the SDK's default number of retries.
	DefaultMaxRetries = 2
	// DefaultMaxTokens caps an answer when the request sets no cap; the
	// Messages API requires max_tokens on every request.
	DefaultMaxTokens = 1024
	// PingTimeout bounds Ping (it is shortened to Timeout when that is less).
	PingTimeout = 10 * time.Second
)

// Config configures a Client.
type Config struct {
	// BaseURL is the API root without the version path, for example
	// https://api.anthropic.com; requests go to BaseURL/v1/messages.
	// Empty means DefaultBaseURL.
	BaseURL string
	// Model is the model name sent with every request (required).
	Model string
	// APIKey is the credential. Empty is allowed for gateways that add their
	// own: then no credential header is sent at all (never one from the
	// environment).
	APIKey string
	// Timeout bounds each HTTP attempt, including reading a streamed body.
	// Zero means DefaultTimeout; negative is an error.
	Timeout time.Duration
	// MaxRetries is how many times a failed attempt (connection error, 429,
	// 5xx, 529) is retried. Zero disables retries; negative is an error.
	MaxRetries int
	// MaxTokens is max_tokens for requests that set no cap of their own.
	// Zero means DefaultMaxTokens; negative is an error.
	MaxTokens int
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
	return fmt.Sprintf("anthropic.Config{BaseURL:%q Model:%q APIKey:%s Timeout:%s MaxRetries:%d MaxTokens:%d}",
		c.BaseURL, c.Model, key, c.Timeout, c.MaxRetries, c.MaxTokens)
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
		slog.Int("max_tokens", c.MaxTokens),
	)
}

// Validate reports the first invalid setting, naming it. An empty BaseURL is
// valid (it means DefaultBaseURL).
func (c Config) Validate() error {
	if c.Model == "" {
		return errors.New("anthropic config: model is required (for example claude-haiku-4-5)")
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil {
			return fmt.Errorf("anthropic config: base URL %q: %w", c.BaseURL, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("anthropic config: base URL %q: scheme must be http or https", c.BaseURL)
		}
		if u.Host == "" {
			return fmt.Errorf("anthropic config: base URL %q: missing host", c.BaseURL)
		}
		if u.User != nil {
			return errors.New("anthropic config: base URL must not carry credentials; use the API key setting")
		}
		if strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/v1") {
			return fmt.Errorf("anthropic config: base URL %q: give the API root without /v1 (for example %s)", c.BaseURL, DefaultBaseURL)
		}
	}
	if c.Timeout < 0 {
		return fmt.Errorf("anthropic config: timeout %s: must be positive, or zero for the default %s", c.Timeout, DefaultTimeout)
	}
	if c.MaxRetries < 0 {
		return fmt.Errorf("anthropic config: max retries %d: must be zero or more", c.MaxRetries)
	}
	if c.MaxTokens < 0 {
		return fmt.Errorf("anthropic config: max tokens %d: must be positive, or zero for the default %d", c.MaxTokens, DefaultMaxTokens)
	}
	return nil
}

// Client is an Anthropic Messages API provider. It is safe for concurrent use.
type Client struct {
	model     string
	apiKey    string // kept only to scrub it from error messages
	timeout   time.Duration
	maxTokens int
	messages  anthropic.MessageService
	models    anthropic.ModelService
}

var _ cloud.Provider = (*Client)(nil)

// New validates cfg and returns a client. It makes no request.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxTokens == 0 {
		cfg.MaxTokens = DefaultMaxTokens
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport}
	}
	opts := []option.RequestOption{
		option.WithBaseURL(cfg.BaseURL),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(cfg.MaxRetries),
		option.WithoutOpenTelemetry(),
		// Each attempt is bounded by the call's own timer (see call); this
		// longer bound only keeps the SDK from choosing one itself (for
		// non-streaming calls it picks 10 minutes, or refuses a large
		// max_tokens), and from retrying a timed-out attempt.
		option.WithRequestTimeout(2*cfg.Timeout + time.Second),
	}
	if cfg.APIKey != "" {
		opts = append(opts, option.WithAPIKey(cfg.APIKey))
	}
	return &Client{
		model:     cfg.Model,
		apiKey:    cfg.APIKey,
		timeout:   cfg.Timeout,
		maxTokens: cfg.MaxTokens,
		messages:  anthropic.NewMessageService(opts...),
		models:    anthropic.NewModelService(opts...),
	}, nil
}

// maxRetryDelay bounds the wait before a retry that the server asks for (via
// Retry-After or Retry-After-Ms) to half the per-attempt timeout, and to the
// SDK's usual 8s backoff cap. A cascade escalates to the cloud to answer
// soon; a longer wait returns the 429 or 5xx at once instead, for the caller
// to decide.
func maxRetryDelay(timeout time.Duration) time.Duration {
	return max(min(8*time.Second, timeout/2), time.Millisecond)
}

// Name returns "anthropic".
func (c *Client) Name() string { return ProviderName }

// Model returns the configured model name.
func (c *Client) Model() string { return c.model }

// String names the client without its API key.
func (c *Client) String() string { return fmt.Sprintf("anthropic(%s)", c.model) }

// GoString keeps %#v from printing the API key.
func (c *Client) GoString() string { return c.String() }

// Complete sends a non-streaming Messages request and returns the text of
// the answer (its text blocks, concatenated).
func (c *Client) Complete(ctx context.Context, req cloud.Request) (*cloud.Response, error) {
	params, err := c.params(req)
	if err != nil {
		return nil, fmt.Errorf("anthropic complete: %w", err)
	}
	cl := c.newCall(ctx, c.timeout)
	defer cl.end()
	var raw *http.Response
	msg, err := c.messages.New(cl.ctx, params, cl.option(), option.WithResponseInto(&raw))
	if err != nil {
		return nil, c.callError(ctx, cl, "complete", err, raw)
	}
	var content strings.Builder
	var calls []models.ToolCall
	for _, block := range msg.Content {
		switch block.Type {
		case "text":
			content.WriteString(block.Text)
		case "tool_use":
			calls = append(calls, models.ToolCall{ID: block.ID, Name: block.Name, Arguments: toolInput(block.Input)})
		}
	}
	return &cloud.Response{
		ToolCalls:    calls,
		Provider:     ProviderName,
		Model:        c.modelOr(msg.Model),
		Content:      content.String(),
		FinishReason: finishReason(string(msg.StopReason)),
		Usage: cloud.Usage{
			PromptTokens: int(msg.Usage.InputTokens + msg.Usage.CacheCreationInputTokens +
				msg.Usage.CacheReadInputTokens),
			CompletionTokens: int(msg.Usage.OutputTokens),
		},
		NotSent: notSent(req),
	}, nil
}

// notSent names the request's options the Messages API cannot take (see
// params), so the decision's reason can say they were not honoured.
// Temperature is left out: it was never sent, as the package says.
func notSent(req cloud.Request) []string {
	var out []string
	o := req.Options
	for _, x := range []struct {
		name string
		set  bool
	}{
		{"top_p", o.TopP != nil}, {"top_k", o.TopK != nil}, {"seed", o.Seed != nil},
		{"frequency_penalty", o.FrequencyPenalty != nil}, {"presence_penalty", o.PresencePenalty != nil},
		{"response_format", o.Format != nil}, {"logprobs", req.Logprobs},
	} {
		if x.set {
			out = append(out, x.name)
		}
	}
	return out
}

// Stream sends a streaming Messages request (Server-Sent Events), calls fn
// with each text delta and returns the whole answer. Usage comes from
// message_start (input) and message_delta (output, cumulative); the finish
// reason from message_delta. A stream that ends without message_stop, carries
// an error event or an event that is not valid JSON returns an error, never a
// partial answer. An error returned by fn stops the stream and is returned
// wrapped, but not as a *cloud.Error: the provider did not fail.
func (c *Client) Stream(ctx context.Context, req cloud.Request, fn cloud.DeltaFunc) (*cloud.Response, error) {
	params, err := c.params(req)
	if err != nil {
		return nil, fmt.Errorf("anthropic stream: %w", err)
	}
	cl := c.newCall(ctx, c.timeout)
	defer cl.end()
	var raw *http.Response
	stream := c.messages.NewStreaming(cl.ctx, params, cl.option(), option.WithResponseInto(&raw))
	defer stream.Close()
	if err := stream.Err(); err != nil {
		return nil, c.callError(ctx, cl, "stream", err, raw)
	}

	resp := &cloud.Response{Provider: ProviderName, Model: c.model, NotSent: notSent(req)}
	var content []byte
	calls := toolUseAcc{}
	stopped := false
events:
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "message_start":
			if ev.Message.Model != "" {
				resp.Model = ev.Message.Model
			}
			u := ev.Message.Usage
			resp.Usage.PromptTokens = int(u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens)
			resp.Usage.CompletionTokens = int(u.OutputTokens)
		case "content_block_start":
			if b := ev.ContentBlock; b.Type == "tool_use" {
				calls.start(ev.Index, b.ID, b.Name)
			}
		case "content_block_delta":
			if ev.Delta.Type == "input_json_delta" {
				calls.add(ev.Index, ev.Delta.PartialJSON)
				continue
			}
			if ev.Delta.Type != "text_delta" || ev.Delta.Text == "" {
				continue // thinking and citations are not answer text
			}
			content = append(content, ev.Delta.Text...)
			if fn != nil {
				if err := fn(ev.Delta.Text); err != nil {
					return nil, fmt.Errorf("anthropic stream: deliver delta: %w", err)
				}
			}
		case "message_delta":
			if ev.Delta.StopReason != "" {
				resp.FinishReason = finishReason(string(ev.Delta.StopReason))
			}
			// Output tokens are cumulative; input counts appear here only
			// on some API versions, and then are final.
			u := ev.Usage
			if u.JSON.OutputTokens.Valid() {
				resp.Usage.CompletionTokens = int(u.OutputTokens)
			}
			if u.JSON.InputTokens.Valid() && u.InputTokens > 0 {
				resp.Usage.PromptTokens = int(u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens)
			}
		case "message_stop":
			// Nothing follows; stop before a late read error (or the
			// attempt's timer) can spoil a complete answer.
			stopped = true
			break events
		}
		// content_block_stop and event types added later carry nothing
		// this package needs.
	}
	if err := stream.Err(); err != nil {
		return nil, c.streamError(ctx, cl, err)
	}
	if !stopped {
		return nil, c.wrap(0, "stream", fmt.Errorf("stream ended before message_stop after %d bytes of content", len(content)))
	}
	resp.Content = string(content)
	resp.ToolCalls = calls.result()
	return resp, nil
}

// Ping lists one model, which checks reachability and credentials. It is
// bounded by PingTimeout (or Timeout when shorter) and is not retried.
func (c *Client) Ping(ctx context.Context) error {
	d := min(PingTimeout, c.timeout)
	cl := c.newCall(ctx, d)
	defer cl.end()
	var raw *http.Response
	_, err := c.models.List(cl.ctx, anthropic.ModelListParams{Limit: anthropic.Int(1)},
		cl.option(), option.WithMaxRetries(0), option.WithResponseInto(&raw))
	if err != nil {
		return c.callError(ctx, cl, "ping", err, raw)
	}
	return nil
}

// params converts a cloud request. MaxTokens 0 means the configured cap.
func (c *Client) params(req cloud.Request) (anthropic.MessageNewParams, error) {
	if req.MaxTokens < 0 {
		return anthropic.MessageNewParams{}, fmt.Errorf("max tokens %d: must be zero or more", req.MaxTokens)
	}
	system, msgs, err := messages(req.Messages)
	if err != nil {
		return anthropic.MessageNewParams{}, err
	}
	maxTokens := c.maxTokens
	if req.MaxTokens > 0 {
		maxTokens = req.MaxTokens
	}
	p := anthropic.MessageNewParams{
		Model:     c.model,
		MaxTokens: int64(maxTokens),
		Messages:  msgs,
	}
	if system != "" {
		p.System = []anthropic.TextBlockParam{{Text: system}}
	}
	// req.Temperature is not sent: API version 2026-10-21 has no temperature
	// parameter (current models reject sampling parameters with a 400). For
	// the same reason top_p, seed, the penalties and the JSON format are not
	// sent: the Messages API has no seed, penalties or response format, and
	// docs/api.md says so. Stop sequences are.
	if len(req.Stop) > 0 {
		p.StopSequences = req.Stop
	}
	if err := setTools(&p, req.Options); err != nil {
		return anthropic.MessageNewParams{}, err
	}
	if req.User != "" {
		p.Metadata = anthropic.MetadataParam{UserID: anthropic.String(req.User)}
	}
	return p, nil
}

// messages maps chat messages to the Messages API: system messages, wherever
// they are, become the top-level system prompt (joined by blank lines, in
// order); consecutive user or assistant messages are merged into one turn,
// so roles alternate (their texts joined by blank lines); a tool message is
// a tool_result block in a user turn; and the conversation must start with a
// user message.
func messages(in []models.Message) (string, []anthropic.MessageParam, error) {
	if len(in) == 0 {
		return "", nil, errors.New("request has no messages")
	}
	var system []string
	var turns []*turn
	for i, m := range in {
		role := m.Role
		switch role {
		case "system", "developer":
			system = append(system, m.Content)
			continue
		case "tool":
			role = "user"
		case "user", "assistant":
		default:
			return "", nil, fmt.Errorf("message %d: unsupported role %q (want system, developer, user, assistant or tool)", i, m.Role)
		}
		if len(turns) == 0 && role != "user" {
			return "", nil, fmt.Errorf("message %d: the first non-system message must have role user, not %s (the Messages API requires it)", i, m.Role)
		}
		if n := len(turns); n == 0 || turns[n-1].role != role {
			turns = append(turns, &turn{role: role})
		}
		t := turns[len(turns)-1]
		switch {
		case m.Role == "tool":
			t.block(anthropic.NewToolResultBlock(m.ToolCallID, m.Content, false))
		case len(m.Images) > 0: // images first, as Anthropic advises
			t.block(imageBlocks(m.Images)...)
			if m.Content != "" {
				t.text = append(t.text, m.Content)
			}
		case len(m.ToolCalls) > 0:
			if m.Content != "" {
				t.text = append(t.text, m.Content)
			}
			t.block(toolUseBlocks(m.ToolCalls)...)
		default:
			t.text = append(t.text, m.Content)
		}
	}
	if len(turns) == 0 {
		return "", nil, errors.New("request has no user message")
	}
	out := make([]anthropic.MessageParam, 0, len(turns))
	for _, t := range turns {
		t.flush()
		if t.role == "user" {
			out = append(out, anthropic.NewUserMessage(t.blocks...))
		} else {
			out = append(out, anthropic.NewAssistantMessage(t.blocks...))
		}
	}
	return strings.Join(system, "\n\n"), out, nil
}

// turn is one turn of the conversation: its blocks, and the texts that
// will make its next text block.
type turn struct {
	role   string
	blocks []anthropic.ContentBlockParamUnion
	text   []string
}

// flush ends the pending text block.
func (t *turn) flush() {
	if len(t.text) > 0 {
		t.blocks = append(t.blocks, anthropic.NewTextBlock(strings.Join(t.text, "\n\n")))
		t.text = nil
	}
}

// block adds blocks after the pending text.
func (t *turn) block(b ...anthropic.ContentBlockParamUnion) {
	t.flush()
	t.blocks = append(t.blocks, b...)
}

// finishReason maps Anthropic's stop_reason to the OpenAI-style finish
// reasons the cascade reports; reasons without an equivalent pass through.
func finishReason(stop string) string {
	switch stop {
	case "end_turn", "stop_sequence":
		return "stop"
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	default:
		return stop
	}
}

func (c *Client) modelOr(m string) string {
	if m != "" {
		return m
	}
	return c.model
}
