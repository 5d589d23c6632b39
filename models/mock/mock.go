// Package mock is the one fake local model for tests: a models.Model whose
// behaviour is set per test through function fields (litestream's mock
// style). A field left nil gives a plain default, documented on the field.
package mock

import (
	"context"
	"sync/atomic"

	"github.com/edgecascade/edgecascade/models"
)

// Model is a fake local model.
type Model struct {
	// ModelName is what Name returns ("mock" when empty).
	ModelName string
	// ChatFunc answers Chat. Nil: the answer of Answer.
	ChatFunc func(ctx context.Context, req models.Request) (*models.Response, error)
	// ChatStreamFunc answers ChatStream. Nil: ChatFunc's answer (or
	// Answer's) sent as one chunk.
	ChatStreamFunc func(ctx context.Context, req models.Request, fn models.ChunkFunc) (*models.Response, error)
	// PingFunc answers Ping. Nil: nil.
	PingFunc func(ctx context.Context) error
	// Answer is the answer Chat gives when ChatFunc is nil.
	Answer models.Response
	// Caps are what Capabilities reports (nil: text only, no tools or
	// vision); CapsErr, when set, is its error instead.
	Caps    []string
	CapsErr error

	calls atomic.Int64
}

var _ models.Model = (*Model)(nil)

// Name implements models.Model.
func (m *Model) Name() string {
	if m.ModelName == "" {
		return "mock"
	}
	return m.ModelName
}

// Calls is how many Chat and ChatStream calls the model received.
func (m *Model) Calls() int { return int(m.calls.Load()) }

// Chat implements models.Model.
func (m *Model) Chat(ctx context.Context, req models.Request) (*models.Response, error) {
	m.calls.Add(1)
	return m.chat(ctx, req)
}

func (m *Model) chat(ctx context.Context, req models.Request) (*models.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.ChatFunc != nil {
		return m.ChatFunc(ctx, req)
	}
	resp := m.Answer
	if resp.Model == "" {
		resp.Model = m.Name()
	}
	if resp.FinishReason == "" {
		resp.FinishReason = "stop"
	}
	return &resp, nil
}

// ChatStream implements models.Model.
func (m *Model) ChatStream(ctx context.Context, req models.Request, fn models.ChunkFunc) (*models.Response, error) {
	m.calls.Add(1)
	if m.ChatStreamFunc != nil {
		return m.ChatStreamFunc(ctx, req, fn)
	}
	resp, err := m.chat(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.Content != "" {
		if err := fn(models.Chunk{Content: resp.Content, Tokens: resp.Tokens}); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// Capabilities implements models.Capabler.
func (m *Model) Capabilities(context.Context) ([]string, error) {
	if m.CapsErr != nil {
		return nil, m.CapsErr
	}
	return m.Caps, nil
}

// Ping implements models.Model.
func (m *Model) Ping(ctx context.Context) error {
	if m.PingFunc != nil {
		return m.PingFunc(ctx)
	}
	return nil
}

// Tokens returns a token list for content in which every token has the
// given log probability: one token per byte, so a scorer's mean and minimum
// are exactly logprob.
func Tokens(content string, logprob float64) []models.TokenLogprob {
	out := make([]models.TokenLogprob, 0, len(content))
	for i := 0; i < len(content); i++ {
		out = append(out, models.TokenLogprob{Token: content[i : i+1], Logprob: logprob,
			Top: []models.TopLogprob{{Token: content[i : i+1], Logprob: logprob}}})
	}
	return out
}
