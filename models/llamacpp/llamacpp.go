// Package llamacpp is the local-model backend for a running llama.cpp
// `llama-server`, spoken to over plain HTTP (no SDK).
//
// Answers come from the OpenAI-compatible POST /v1/chat/completions with
// `logprobs: true` and `top_logprobs: N`; llama-server returns the
// OpenAI-shaped choices[0].logprobs.content[] (token, logprob, bytes,
// top_logprobs), in one body or, when streaming, per SSE chunk. Its
// log-probabilities are a plain softmax of the logits, before the sampler
// chain, so they compare with Ollama's. Hidden-state features come from
// POST /embedding (server started with --embeddings), health from
// GET /health and the context size, chat template and capabilities (tools,
// vision: tools.go) from GET /props.
//
// The wire shapes follow llama.cpp's tools/server (README.md,
// server-task.cpp, server-context.cpp, server-common.cpp, server-http.cpp);
// the tests replay fixtures taken from those files.
package llamacpp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/edgecascade/edgecascade/models"
)

const (
	backendName = "llamacpp"
	// defaultName is what Name returns when Config.Model is empty.
	defaultName = "llama-server"

	pathChat      = "/v1/chat/completions"
	pathComplete  = "/v1/completions"
	pathEmbedding = "/embedding"
	pathHealth    = "/health"
	pathProps     = "/props"

	// maxErrorBody caps how much of an error body is read and quoted.
	maxErrorBody = 64 << 10
)

// Config configures a Client.
type Config struct {
	// URL is the server's root URL, e.g. http://127.0.0.1:8080 — without
	// /v1 (or with llama-server's --api-prefix, if it was started with one).
	URL string
	// Model names the model. A single-model llama-server answers with the
	// model it was started with (-m) whatever the name; in router mode the
	// name selects the model. Empty means "llama-server", and no model field
	// is sent.
	Model string
	// Timeout bounds one call (a generation, an embedding, a probe); 0 means
	// no bound beyond the context.
	Timeout time.Duration
	// HTTPClient is optional. To reach a server started with --api-key, give
	// it a Transport that sets "Authorization: Bearer <key>".
	HTTPClient *http.Client
	// RawFeatures makes Features return the mean-pooled hidden state as the
	// server computed it. By default (false) Features L2-normalizes it, which
	// matches Ollama's /api/embed (it returns L2-normalized states), so
	// probes trained on either backend's features see the same scale.
	RawFeatures bool
}

// Client talks to one llama-server.
type Client struct {
	hc      *http.Client
	base    string // root URL without a trailing slash
	url     string // as configured, for hints
	model   string // as sent on the wire; may be empty
	name    string // as reported by Name
	timeout time.Duration
	raw     bool
}

var (
	_ models.Model            = (*Client)(nil)
	_ models.ContextSizer     = (*Client)(nil)
	_ models.FeatureExtractor = (*Client)(nil)
)

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("llamacpp: invalid url %q: want http://host:port", cfg.URL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("llamacpp: invalid url %q: want no query or fragment", cfg.URL)
	}
	base := strings.TrimRight(u.String(), "/")
	if strings.HasSuffix(base, "/v1") {
		return nil, fmt.Errorf("llamacpp: invalid url %q: want the server root, without /v1", cfg.URL)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("llamacpp: negative timeout %s", cfg.Timeout)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	name := cfg.Model
	if name == "" {
		name = defaultName
	}
	return &Client{
		hc:      hc,
		base:    base,
		url:     cfg.URL,
		model:   cfg.Model,
		name:    name,
		timeout: cfg.Timeout,
		raw:     cfg.RawFeatures,
	}, nil
}

// Name returns the configured model name, or "llama-server" when none was set.
func (c *Client) Name() string { return c.name }

// Chat generates a complete answer.
func (c *Client) Chat(ctx context.Context, req models.Request) (*models.Response, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if err := c.checkRequest(ctx, req); err != nil {
		return nil, err
	}
	path, body := c.requestBody(req, false)
	resp, err := c.send(ctx, http.MethodPost, path, body)
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	defer resp.Body.Close()
	var cr chatResponse
	if err := json.NewDecoder(resp.Body).Decode(&cr); err != nil {
		return nil, c.wrap(ctx, fmt.Errorf("decode chat response: %w", err))
	}
	acc := newAccumulator(c.name, req.TopLogprobs, false)
	if err := acc.add(cr, nil); err != nil {
		return nil, c.wrap(ctx, err)
	}
	out, err := acc.result()
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	return out, nil
}

// ChatStream generates an answer over Server-Sent Events, calling fn for each
// chunk that carries text or tokens, and returns the complete answer. A
// stream that ends before its finish_reason and `data: [DONE]` is an error.
func (c *Client) ChatStream(ctx context.Context, req models.Request, fn models.ChunkFunc) (*models.Response, error) {
	if fn == nil {
		return nil, errors.New("llamacpp: nil chunk func")
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if err := c.checkRequest(ctx, req); err != nil {
		return nil, err
	}
	path, body := c.requestBody(req, true)
	resp, err := c.send(ctx, http.MethodPost, path, body)
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	defer resp.Body.Close()

	acc := newAccumulator(c.name, req.TopLogprobs, true)
	var chunkErr error
	err = readSSE(resp.Body, func(data []byte) error {
		if string(bytes.TrimSpace(data)) == "[DONE]" {
			acc.done = true
			return errStopStream
		}
		var cr chatResponse
		if err := json.Unmarshal(data, &cr); err != nil {
			return fmt.Errorf("decode stream chunk: %w", err)
		}
		return acc.add(cr, func(ch models.Chunk) error {
			if err := fn(ch); err != nil {
				chunkErr = err
				return err
			}
			return nil
		})
	})
	if chunkErr != nil {
		return nil, chunkErr
	}
	if err != nil && !errors.Is(err, errStopStream) {
		return nil, c.wrap(ctx, fmt.Errorf("read stream: %w", err))
	}
	out, err := acc.result()
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	return out, nil
}

// Ping checks that the server is up and its model is loaded (GET /health).
// While llama-server loads the model it answers 503 "Loading model", which
// Ping reports as ErrUnavailable with a hint to retry.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := c.send(ctx, http.MethodGet, pathHealth, nil)
	if err != nil {
		return c.wrap(ctx, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	return nil
}

// Props are the server's global properties from GET /props.
type Props struct {
	// ContextSize is the context one request can use, in tokens: the
	// server's -c divided among its --parallel slots. 0 means the server did
	// not report it.
	ContextSize int
	// ChatTemplate is the model's Jinja chat template as the server uses it.
	ChatTemplate string
	// ModelPath is the model file the server loaded, when reported.
	ModelPath string
	// TotalSlots is the number of parallel slots, when reported.
	TotalSlots int
	// BuildInfo is the server's build, e.g. "b6385-d1e2f3a", when reported.
	BuildInfo string
	// Tools is set when the chat template supports tool calls
	// (chat_template_caps.supports_tool_calls, with --jinja); Vision when
	// the server has a vision projector (modalities.vision).
	Tools, Vision bool
}

// Props reads the server's properties. Servers report the context size as
// default_generation_settings.n_ctx; a top-level n_ctx is used when that is
// absent.
func (c *Client) Props(ctx context.Context) (*Props, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := c.send(ctx, http.MethodGet, pathProps, nil)
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	defer resp.Body.Close()
	var w propsWire
	if err := json.NewDecoder(resp.Body).Decode(&w); err != nil {
		return nil, c.wrap(ctx, fmt.Errorf("decode props: %w", err))
	}
	return w.props(), nil
}

// propsWire is GET /props as llama-server sends it.
type propsWire struct {
	DefaultGenerationSettings struct {
		NCtx int `json:"n_ctx"`
	} `json:"default_generation_settings"`
	NCtx         int    `json:"n_ctx"`
	ChatTemplate string `json:"chat_template"`
	ModelPath    string `json:"model_path"`
	TotalSlots   int    `json:"total_slots"`
	BuildInfo    string `json:"build_info"`
	// ChatTemplateCaps and Modalities are what the server takes beyond
	// text (newer servers; absent means no).
	ChatTemplateCaps map[string]any `json:"chat_template_caps"`
	Modalities       struct {
		Vision bool `json:"vision"`
	} `json:"modalities"`
}

func (w propsWire) props() *Props {
	p := &Props{
		ContextSize:  w.DefaultGenerationSettings.NCtx,
		ChatTemplate: w.ChatTemplate,
		ModelPath:    w.ModelPath,
		TotalSlots:   w.TotalSlots,
		BuildInfo:    w.BuildInfo,
		Tools:        w.ChatTemplateCaps["supports_tool_calls"] == true,
		Vision:       w.Modalities.Vision,
	}
	if p.ContextSize <= 0 {
		p.ContextSize = max(w.NCtx, 0)
	}
	return p
}

// ContextLength is the context one request can use, from GET /props; an
// error when the server does not report it.
func (c *Client) ContextLength(ctx context.Context) (int, error) {
	p, err := c.Props(ctx)
	if err != nil {
		return 0, err
	}
	if p.ContextSize <= 0 {
		return 0, c.wrap(ctx, errors.New("GET /props reported no context size"))
	}
	return p.ContextSize, nil
}

// checkRequest refuses what llama-server cannot do here: a
// fill-in-the-middle completion (a raw one goes to /v1/completions),
// and a requested context (Ollama's num_ctx) larger than the server's:
// llama-server's context is fixed at its start (--ctx-size), so a request
// can use up to that and no more. num_ctx 0 asks for nothing.
func (c *Client) checkRequest(ctx context.Context, req models.Request) error {
	if req.Completion != nil && req.Completion.Suffix != "" {
		return &models.Error{Backend: backendName, Model: c.name, Kind: models.ErrBadRequest,
			Err:  errors.New("suffix (fill-in-the-middle) completions are not supported by the llamacpp backend"),
			Hint: "use the ollama backend with a model whose template supports insert"}
	}
	numCtx := req.NumCtx
	if numCtx <= 0 {
		return nil
	}
	n, err := c.ContextLength(ctx)
	if err != nil {
		return err
	}
	if numCtx > n {
		return &models.Error{Backend: backendName, Model: c.name, Kind: models.ErrBadRequest,
			Err:  fmt.Errorf("num_ctx %d is larger than llama-server's context of %d tokens", numCtx, n),
			Hint: "llama-server's context is fixed at its start (--ctx-size): ask for at most that"}
	}
	return nil
}

// withTimeout applies the configured per-call timeout.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return context.WithCancel(ctx)
}

// send makes one request and returns the response when its status is 200;
// any other status becomes an *apiError built from the body.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s request: %w", path, err)
		}
		rd = bytes.NewReader(b)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build %s request: %w", path, err)
	}
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	hreq.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return nil, parseAPIError(method, path, resp.StatusCode, b)
}
