// Package cloud defines the contract of a cloud LLM provider that edgecascade
// escalates to. Each provider lives in its own sub-package (cloud/openai).
package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/edgecascade/edgecascade/models"
)

// Request is a chat request to a cloud provider.
type Request struct {
	Messages    []models.Message
	MaxTokens   int
	Temperature *float64
	// Options are the client's other generation options.
	models.Options
	// Logprobs asks for the answer's token log probabilities, with
	// TopLogprobs alternatives per position (0-20).
	Logprobs    bool
	TopLogprobs int
	// LogprobsFunc, when set on a streamed request that asks for logprobs,
	// receives each streamed chunk's tokens just before the chunk's text
	// goes to the DeltaFunc, so they can be passed on with that text.
	// Providers that only have them at the end (or never) do not call it;
	// Response.Logprobs has them all either way.
	LogprobsFunc func(tokens []models.TokenLogprob) error
}

// Usage counts the tokens a cloud call consumed.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// Response is a complete cloud answer.
type Response struct {
	Provider     string `json:"provider"`
	Model        string `json:"model"`
	Content      string `json:"content"`
	FinishReason string `json:"finish_reason"`
	Usage        Usage  `json:"usage"`
	// Cost is the answer's price from the configured per-1K-token prices
	// (set by a Chain); 0 when no price is configured.
	Cost float64 `json:"cost,omitempty"`
	// Logprobs are the answer's token log probabilities when the request
	// asked for them and the provider sent them; nil otherwise.
	Logprobs []models.TokenLogprob `json:"logprobs,omitempty"`
	// NotSent names the request's options the provider's API cannot take,
	// which were therefore not sent (the decision's reason lists them).
	NotSent []string `json:"not_sent,omitempty"`
	// ToolCalls are the tools the model called (FinishReason
	// "tool_calls"); a stream gathers them from the provider's deltas.
	ToolCalls []models.ToolCall `json:"tool_calls,omitempty"`
}

// DeltaFunc receives streamed text; returning an error stops the stream.
type DeltaFunc func(delta string) error

// Provider is a cloud LLM.
type Provider interface {
	// Name names the provider (for logs, errors and the cascade object).
	Name() string
	// Model is the cloud model's name.
	Model() string
	// Complete returns a complete answer.
	Complete(ctx context.Context, req Request) (*Response, error)
	// Stream calls fn with each piece of the answer and returns the whole.
	Stream(ctx context.Context, req Request, fn DeltaFunc) (*Response, error)
	// Ping checks that the provider answers (reachability and credentials).
	Ping(ctx context.Context) error
}

// ErrUnavailable means the provider could not be reached or did not answer.
var ErrUnavailable = errors.New("cloud provider unavailable")

// Error is a provider error naming the provider and, when there was an HTTP
// answer, its status.
type Error struct {
	Provider string
	Status   int // HTTP status; 0 when no answer came
	// RetryAfter is the wait the server asked for (Retry-After or
	// retry-after-ms on its error answer); 0 when it asked for none.
	RetryAfter time.Duration
	Err        error
}

// RetryAfter reads the wait a server asks for on an error answer: the
// retry-after-ms header (OpenAI), else Retry-After in seconds or as an HTTP
// date. It returns 0 when there is none, or it is malformed or in the past.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if ms, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil && ms > 0 {
		return time.Duration(ms * float64(time.Millisecond))
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 {
			return time.Duration(s * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("cloud provider %s: status %d: %v", e.Provider, e.Status, e.Err)
	}
	return fmt.Sprintf("cloud provider %s: %v", e.Provider, e.Err)
}

// Unwrap exposes the cause, and ErrUnavailable when the provider could not be
// reached or failed on its side (no answer, 429 or 5xx); a 4xx rejection of
// the request itself is not "unavailable".
func (e *Error) Unwrap() []error {
	if e.Status == 0 || e.Status == 429 || e.Status >= 500 {
		return []error{ErrUnavailable, e.Err}
	}
	return []error{e.Err}
}

// ErrOffline means the cloud was not called because it is out of reach: the
// offline switch is on or the circuit breaker is open. It is also
// ErrUnavailable.
var ErrOffline = errors.New("cloud offline")

// ErrBudget means the cloud was not called because a configured budget cap
// is reached.
var ErrBudget = errors.New("cloud budget exhausted")

// ErrOverCap means the cloud was not called because the call's worst case
// (its prompt plus its max tokens, at the configured prices) is over a
// budget cap by itself: it can never be admitted, now or later, so it is
// neither ErrBudget nor ErrUnavailable and is not worth deferring. Lowering
// the request's max tokens (or raising the cap) is the remedy.
var ErrOverCap = errors.New("cloud call over a budget cap")

// NotCalledError is a call the daemon did not make: Err is ErrOffline,
// ErrBudget or ErrOverCap, Reason says why in words.
type NotCalledError struct {
	Err    error
	Reason string
	// RetryAfter, when known, is when the cloud may be called again.
	RetryAfter time.Duration
}

func (e *NotCalledError) Error() string { return fmt.Sprintf("%v: %s", e.Err, e.Reason) }

// Unwrap exposes the sentinel; offline is also ErrUnavailable.
func (e *NotCalledError) Unwrap() []error {
	if e.Err == ErrOffline {
		return []error{ErrOffline, ErrUnavailable}
	}
	return []error{e.Err}
}
