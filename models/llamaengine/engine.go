//go:build llamacpp

package llamaengine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/ollama/ollama/fs/ggml"
	"github.com/ollama/ollama/llama"
	"github.com/ollama/ollama/ml"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/chattemplate"
)

const (
	backendName = "llamacpp"
	// maxDefaultContext caps the context when Config.ContextSize is 0, as
	// Ollama's default num_ctx does: a model's training length (32K and
	// more) would make a KV cache of gigabytes.
	maxDefaultContext = 4096
	defaultBatch      = 512
)

// Pooling is how Features turns the text's per-token hidden states into one
// vector.
type Pooling int

const (
	// PoolLast takes the last token's final hidden state, as Ollama's
	// /api/embed does for a generative model: probes trained on either
	// backend's features read the same numbers.
	PoolLast Pooling = iota
	// PoolMean averages every token's final hidden state, as the
	// llama-server backend does with --pooling none.
	PoolMean
)

// Config configures an Engine.
type Config struct {
	// Path is the GGUF file.
	Path string
	// Name is what Name reports; empty: Path.
	Name string
	// ChatTemplate is a chattemplate name ("chatml") or a Go text/template;
	// empty: detected from the GGUF's tokenizer.chat_template, an error
	// when that is absent or not recognized.
	ChatTemplate string
	// ContextSize is the context in tokens; 0: the model's training length,
	// at most 4096.
	ContextSize int
	// BatchSize is how many prompt tokens are decoded at once; 0: 512.
	BatchSize int
	// Threads is the number of CPU threads; 0: half the logical CPUs, at
	// least 1 (about the physical cores, which is what llama.cpp defaults
	// to: its threads spin at barriers, so more threads than free cores
	// slows every token down).
	Threads int
	// Timeout bounds one call; 0: only the caller's context.
	Timeout time.Duration
	// Pooling is how Features pools hidden states (default PoolLast).
	Pooling Pooling
	// RawFeatures makes Features return the pooled state as computed; by
	// default it is L2-normalized, like Ollama's /api/embed.
	RawFeatures bool
	// Log receives load information; nil: slog.Default().
	Log *slog.Logger
}

// Engine is one GGUF model loaded in this process with one llama.cpp
// context. It is safe for concurrent use: calls take turns on the context.
type Engine struct {
	name    string
	path    string
	tpl     *chattemplate.Template
	nCtx    int
	nBatch  int
	timeout time.Duration
	pooling Pooling
	raw     bool

	// turn holds the context: a call sends to take it and receives to give
	// it back, so waiting honours the caller's context.
	turn   chan struct{}
	closed bool // under turn

	model *llama.Model
	lc    *llama.Context
	batch *llama.Batch

	digestMu sync.Mutex
	digest   string // of the GGUF file, once computed
}

var (
	_ models.Model            = (*Engine)(nil)
	_ models.FeatureExtractor = (*Engine)(nil)
	_ models.Renderer         = (*Engine)(nil)
	_ models.ContextSizer     = (*Engine)(nil)
	_ models.AnswerScorer     = (*Engine)(nil)
)

// backendOnce initializes llama.cpp's process-wide backend state once.
var backendOnce sync.Once

// Open loads the GGUF file at cfg.Path. A missing file is
// models.ErrModelNotFound.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	name := cfg.Name
	if name == "" {
		name = cfg.Path
	}
	fail := func(kind error, err error, hint string) error {
		return &models.Error{Backend: backendName, Model: name, Kind: kind, Err: err, Hint: hint}
	}
	if err := ctx.Err(); err != nil {
		return nil, fail(models.ErrUnavailable, err, "")
	}
	if cfg.ContextSize < 0 || cfg.BatchSize < 0 || cfg.Threads < 0 || cfg.Timeout < 0 {
		return nil, fail(models.ErrBadRequest, errors.New("negative context size, batch size, threads or timeout"), "")
	}
	if err := checkContextLayout(); err != nil {
		return nil, fail(models.ErrUnavailable, err, "")
	}
	kv, err := readMetadata(cfg.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fail(models.ErrModelNotFound, err, "local.model must be the path of a GGUF file")
	}
	if err != nil {
		return nil, fail(models.ErrUnavailable, err, "local.model must be the path of a GGUF file")
	}
	spec := cfg.ChatTemplate
	if spec == "" {
		if spec = chattemplate.Detect(kv.ChatTemplate()); spec == "" {
			return nil, fail(models.ErrBadRequest, errors.New("the GGUF has no chat template this engine recognizes"),
				fmt.Sprintf("set local.chat_template to one of %v or to a Go text/template", chattemplate.Names()))
		}
	}
	tpl, err := chattemplate.Parse(spec)
	if err != nil {
		return nil, fail(models.ErrBadRequest, err, "")
	}

	nCtx := cfg.ContextSize
	if nCtx == 0 {
		nCtx = maxDefaultContext
		if n := int(kv.ContextLength()); n > 0 && n < nCtx {
			nCtx = n
		}
	}
	nBatch := cfg.BatchSize
	if nBatch == 0 {
		nBatch = defaultBatch
	}
	nBatch = min(nBatch, nCtx)
	threads := cfg.Threads
	if threads == 0 {
		threads = max(1, runtime.NumCPU()/2)
	}

	backendOnce.Do(func() {
		quietLogs()
		llama.BackendInit()
	})
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	model, err := llama.LoadModelFromFile(cfg.Path, llama.ModelParams{UseMmap: true})
	if err != nil {
		return nil, fail(models.ErrUnavailable, fmt.Errorf("load %s: %w", cfg.Path, err), "is it a GGUF of an architecture llama.cpp supports?")
	}
	lc, err := llama.NewContextWithModel(model, llama.NewContextParams(nCtx, nBatch, 1, threads, ml.FlashAttentionAuto, ""))
	if err != nil {
		llama.FreeModel(model)
		return nil, fail(models.ErrUnavailable, fmt.Errorf("create context of %d tokens: %w", nCtx, err), "")
	}
	batch, err := llama.NewBatch(nBatch, 1, 0)
	if err != nil {
		freeContext(lc)
		llama.FreeModel(model)
		return nil, fail(models.ErrUnavailable, fmt.Errorf("allocate batch: %w", err), "")
	}
	log.Info("llama.cpp engine loaded", "model", cfg.Path, "arch", kv.Architecture(), "context", nCtx,
		"threads", threads, "template", tpl.Name(), "took", time.Since(start).Round(time.Millisecond))
	return &Engine{
		name: name, path: cfg.Path, tpl: tpl, nCtx: nCtx, nBatch: nBatch,
		timeout: cfg.Timeout, pooling: cfg.Pooling, raw: cfg.RawFeatures,
		turn:  make(chan struct{}, 1),
		model: model, lc: lc, batch: batch,
	}, nil
}

// readMetadata reads the GGUF header (key-values, no tensors).
func readMetadata(path string) (ggml.KV, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	g, err := ggml.Decode(f, 0)
	if err != nil {
		return nil, fmt.Errorf("read GGUF %s: %w", path, err)
	}
	return g.KV(), nil
}

// Close waits for the call in progress, then frees the batch, the llama.cpp
// context and the model. Calls after Close fail with ErrUnavailable.
func (e *Engine) Close() error {
	e.turn <- struct{}{}
	defer func() { <-e.turn }()
	if e.closed {
		return nil
	}
	e.closed = true
	e.batch.Free()
	freeContext(e.lc)
	llama.FreeModel(e.model)
	e.batch, e.lc, e.model = nil, nil, nil
	return nil
}

// acquire takes the context for one call, or fails when ctx ends first or
// the engine is closed. The caller must call release.
func (e *Engine) acquire(ctx context.Context) error {
	select {
	case e.turn <- struct{}{}:
	case <-ctx.Done():
		return e.wrap(ctx, ctx.Err())
	}
	if e.closed {
		<-e.turn
		return e.wrap(ctx, errors.New("engine is closed"))
	}
	return nil
}

func (e *Engine) release() { <-e.turn }

// withTimeout applies the configured per-call timeout.
func (e *Engine) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if e.timeout > 0 {
		return context.WithTimeout(ctx, e.timeout)
	}
	return context.WithCancel(ctx)
}

// Name returns the configured name, or the GGUF path.
func (e *Engine) Name() string { return e.name }

var _ models.Capabler = (*Engine)(nil)

// Capabilities reports text completion only: the in-process engine has no
// tool calling and no vision, so the cascade sends requests with tools or
// images to the cloud under auto and refuses them under local.
func (e *Engine) Capabilities(context.Context) ([]string, error) {
	return []string{"completion"}, nil
}

// Ping reports whether the engine can answer: it has a model and is not
// closed.
func (e *Engine) Ping(ctx context.Context) error {
	if err := e.acquire(ctx); err != nil {
		return err
	}
	e.release()
	return nil
}

// Render renders the conversation with the engine's chat template, up to
// where the answer begins.
func (e *Engine) Render(_ context.Context, msgs []models.Message) (string, error) {
	s, err := e.tpl.Render(msgs)
	if err != nil {
		return "", &models.Error{Backend: backendName, Model: e.name, Kind: models.ErrBadRequest, Err: err}
	}
	return s, nil
}

// ContextLength is the engine's context size in tokens.
func (e *Engine) ContextLength(context.Context) (int, error) { return e.nCtx, nil }

// wrap makes err a *models.Error; a context error makes it ErrUnavailable
// with the context's error inside, so errors.Is(err, context.Canceled)
// holds.
func (e *Engine) wrap(ctx context.Context, err error) error {
	var me *models.Error
	if errors.As(err, &me) {
		return err
	}
	out := &models.Error{Backend: backendName, Model: e.name, Kind: models.ErrUnavailable, Err: err}
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		out.Err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && e.timeout > 0 {
		out.Hint = fmt.Sprintf("the call took longer than the %s timeout", e.timeout)
	}
	return out
}

// badRequest is an error in the request itself.
func (e *Engine) badRequest(err error, hint string) error {
	return &models.Error{Backend: backendName, Model: e.name, Kind: models.ErrBadRequest, Err: err, Hint: hint}
}
