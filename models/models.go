// Package models defines the local-model contract of edgecascade: chat
// messages in, an answer out with per-token log probabilities, token counts
// and timings. Each backend (Ollama, llama.cpp) lives in its own sub-package.
package models

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Message is one chat turn.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// Images are a user message's images (models with vision).
	Images []Image `json:"images,omitempty"`
	// ToolCalls are the tool calls of an assistant message.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID and ToolName say which call a tool message (role "tool")
	// answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
	ToolName   string `json:"tool_name,omitempty"`
}

// Request is a chat request to a local model.
type Request struct {
	Messages []Message
	// MaxTokens caps the answer length; 0 means the backend's default.
	MaxTokens int
	// Temperature overrides the model's sampling temperature when set.
	Temperature *float64
	// TopLogprobs is how many alternatives to return at each position (0-20).
	TopLogprobs int
	// Options are the client's other generation options.
	Options
	// Completion, when set, asks for a text completion of a prompt instead
	// of a chat answer; Messages then hold the prompt as a user message (for
	// scorers and context checks), and the backend uses Completion.
	Completion *Completion
}

// Completion is a text completion: Ollama's /api/generate with raw or
// suffix, OpenAI's legacy completions with a suffix.
type Completion struct {
	// Prompt is the text to continue.
	Prompt string
	// Suffix, when set, is the text after the insertion point
	// (fill-in-the-middle): the model writes what goes between Prompt and
	// Suffix, through its template's insert support.
	Suffix string
	// Raw sends Prompt as is, without the model's template.
	Raw bool
	// System is a system prompt for the template (never with Raw).
	System string
}

// TopLogprob is one alternative token at a position.
type TopLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
}

// TokenLogprob is one generated token with its log probability and the most
// likely alternatives at its position.
type TokenLogprob struct {
	Token   string       `json:"token"`
	Logprob float64      `json:"logprob"`
	Top     []TopLogprob `json:"top_logprobs,omitempty"`
}

// Timings are the backend's own measurements of one generation.
type Timings struct {
	Total      time.Duration `json:"total"`
	Load       time.Duration `json:"load"`
	PromptEval time.Duration `json:"prompt_eval"`
	Eval       time.Duration `json:"eval"`
}

// Response is a complete answer from a local model.
type Response struct {
	Model            string         `json:"model"`
	Content          string         `json:"content"`
	Tokens           []TokenLogprob `json:"tokens"`
	PromptTokens     int            `json:"prompt_tokens"`
	CompletionTokens int            `json:"completion_tokens"`
	FinishReason     string         `json:"finish_reason"`
	Timings          Timings        `json:"timings"`
	// ToolCalls are the tools the model called (FinishReason
	// "tool_calls"); the logprobs of their tokens are in Tokens.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
}

// Chunk is one streamed piece of an answer.
type Chunk struct {
	Content string
	Tokens  []TokenLogprob
}

// ChunkFunc receives streamed chunks; returning an error stops the stream.
type ChunkFunc func(Chunk) error

// Model is a local language model.
type Model interface {
	// Name is the model's name as the backend knows it.
	Name() string
	// Chat generates a complete answer.
	Chat(ctx context.Context, req Request) (*Response, error)
	// ChatStream generates an answer, calling fn for each piece as it is
	// produced, and returns the complete answer at the end.
	ChatStream(ctx context.Context, req Request, fn ChunkFunc) (*Response, error)
	// Ping checks that the backend is up and the model is present.
	Ping(ctx context.Context) error
}

// Sentinel errors every backend wraps, so callers can route on them.
var (
	// ErrUnavailable means the backend cannot be reached or failed mid-answer.
	ErrUnavailable = errors.New("local model unavailable")
	// ErrModelNotFound means the backend is up but does not have the model.
	ErrModelNotFound = errors.New("local model not found")
	// ErrBadRequest means the backend rejected the request itself.
	ErrBadRequest = errors.New("local model rejected the request")
)

// Error is a backend error with the backend's name and the model, wrapping one
// of the sentinel errors.
type Error struct {
	Backend string
	Model   string
	Kind    error // one of the sentinel errors
	Err     error // the underlying cause
	Hint    string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %v (backend %s, model %q)", e.Kind, e.Err, e.Backend, e.Model)
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

// FeatureExtractor gives the local model's final hidden state for a text:
// the feature vector of hidden-state probes.
type FeatureExtractor interface {
	// Features returns the hidden state of the text's last token.
	Features(ctx context.Context, text string) ([]float32, error)
}

// Renderer renders a conversation with the model's chat template, up to
// where the assistant's answer begins.
type Renderer interface {
	Render(ctx context.Context, msgs []Message) (string, error)
}

// ContextSizer reports how many tokens the local model's context holds.
type ContextSizer interface {
	ContextLength(ctx context.Context) (int, error)
}

// AnswerScorer gives the log probabilities a model assigns to a supplied
// answer after a conversation (teacher forcing: the answer is fed in, not
// generated): one entry per answer token, each with up to topLogprobs
// alternatives. It lets a cascade score an answer it did not generate
// locally, e.g. a cloud answer or a cached one.
type AnswerScorer interface {
	ScoreAnswer(ctx context.Context, msgs []Message, answer string, topLogprobs int) ([]TokenLogprob, error)
}

// EmbedRequest asks a backend for embeddings.
type EmbedRequest struct {
	// Model is the embedding model; "" means the backend's own model.
	Model string
	// Input is the texts to embed, one vector each.
	Input []string
	// Raw returns the vectors as the model computes them; otherwise they are
	// L2-normalized (Ollama's /api/embed and OpenAI normalize; Ollama's
	// legacy /api/embeddings does not).
	Raw bool
	// Truncate, when set, says whether an input longer than the model's
	// context is cut (true) or an error (false); nil: the backend's default.
	Truncate *bool
	// Options are backend-specific model options (Ollama's options) and
	// KeepAlive how long the backend keeps the model loaded; a backend
	// without them refuses them with ErrBadRequest.
	Options   map[string]any
	KeepAlive *time.Duration
}

// Embeddings is the answer to an EmbedRequest.
type Embeddings struct {
	// Model is the model that computed the vectors.
	Model string
	// Vectors holds one vector per input, in order.
	Vectors [][]float32
	// PromptTokens is how many input tokens were read (0: unknown).
	PromptTokens int
}

// Embedder computes embeddings with the backend. Embeddings never leave the
// device: there is no cloud embedder.
type Embedder interface {
	Embed(ctx context.Context, req EmbedRequest) (*Embeddings, error)
}

// Description is what a backend knows of a model (as Ollama's /api/show
// tells it).
type Description struct {
	Model string
	// Format, Family, Families, ParameterSize and QuantizationLevel are
	// Ollama's model details; ParentModel the model it was made from.
	Format, Family, ParentModel, ParameterSize, QuantizationLevel string
	Families                                                      []string
	// ContextLength is the context the model is run with (0: unknown).
	ContextLength int
	// Capabilities are the backend's words: completion, tools, vision,
	// embedding, insert, thinking.
	Capabilities []string
	// Template is the model's chat template; Parameters its parameter
	// lines; ModelInfo the backend's metadata (GGUF keys for Ollama).
	Template, Parameters string
	ModelInfo            map[string]any
	ModifiedAt           time.Time
}

// Loaded is a model the backend holds in memory.
type Loaded struct {
	Description
	Digest    string
	Size      int64
	SizeVRAM  int64
	ExpiresAt time.Time
}

// Describer tells what the backend knows of its model and which models it
// holds in memory.
type Describer interface {
	// Describe describes the named model ("" : the backend's own model).
	Describe(ctx context.Context, model string) (*Description, error)
	// Loaded lists the models the backend holds in memory now.
	Loaded(ctx context.Context) ([]Loaded, error)
}
