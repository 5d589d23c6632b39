package mock

import (
	"context"
	"sync/atomic"

	"github.com/edgecascade/edgecascade/models"
)

// The optional interfaces of a local model, each a fake of its own so that a
// test combines exactly the ones it needs with a Model (by embedding both in
// a struct).

// FeatureSource is a fake models.FeatureExtractor and models.Renderer (what
// a probe reads: uq.Features). It is not named Features: embedded in a
// struct, a field of that name would hide the Features method.
type FeatureSource struct {
	// FeaturesFunc answers Features. Nil: a one-element vector {1}.
	FeaturesFunc func(ctx context.Context, text string) ([]float32, error)
	// RenderFunc answers Render. Nil: the messages' contents, one a line.
	RenderFunc func(ctx context.Context, msgs []models.Message) (string, error)

	calls atomic.Int64
}

var (
	_ models.FeatureExtractor = (*FeatureSource)(nil)
	_ models.Renderer         = (*FeatureSource)(nil)
)

// Calls is how many Features calls were made.
func (f *FeatureSource) Calls() int { return int(f.calls.Load()) }

// Features implements models.FeatureExtractor.
func (f *FeatureSource) Features(ctx context.Context, text string) ([]float32, error) {
	f.calls.Add(1)
	if f.FeaturesFunc != nil {
		return f.FeaturesFunc(ctx, text)
	}
	return []float32{1}, nil
}

// Render implements models.Renderer.
func (f *FeatureSource) Render(ctx context.Context, msgs []models.Message) (string, error) {
	if f.RenderFunc != nil {
		return f.RenderFunc(ctx, msgs)
	}
	return Render(msgs), nil
}

// Render is the default rendering of a conversation: the messages'
// contents, one a line.
func Render(msgs []models.Message) string {
	var s string
	for _, m := range msgs {
		s += m.Content + "\n"
	}
	return s
}

// Renderer is a fake models.Renderer.
type Renderer struct {
	// RenderFunc answers Render. Nil: Render(msgs).
	RenderFunc func(ctx context.Context, msgs []models.Message) (string, error)
}

var _ models.Renderer = Renderer{}

// Render implements models.Renderer.
func (r Renderer) Render(ctx context.Context, msgs []models.Message) (string, error) {
	if r.RenderFunc != nil {
		return r.RenderFunc(ctx, msgs)
	}
	return Render(msgs), nil
}

// ContextSizer is a fake models.ContextSizer.
type ContextSizer struct {
	// Length is the context length reported (4096 when 0).
	Length int
}

var _ models.ContextSizer = ContextSizer{}

// ContextLength implements models.ContextSizer.
func (c ContextSizer) ContextLength(context.Context) (int, error) {
	if c.Length == 0 {
		return 4096, nil
	}
	return c.Length, nil
}
