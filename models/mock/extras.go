package mock

import (
	"context"
	"math"
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

// Embedder is a fake models.Embedder.
type Embedder struct {
	// EmbedFunc answers Embed. Nil: for each input a 4-value vector made
	// from its length (L2-normalized unless Raw) and its byte count as the
	// prompt tokens.
	EmbedFunc func(ctx context.Context, req models.EmbedRequest) (*models.Embeddings, error)

	calls atomic.Int64
}

var _ models.Embedder = (*Embedder)(nil)

// EmbedCalls is how many Embed calls the fake received.
func (e *Embedder) EmbedCalls() int { return int(e.calls.Load()) }

// Embed implements models.Embedder.
func (e *Embedder) Embed(ctx context.Context, req models.EmbedRequest) (*models.Embeddings, error) {
	e.calls.Add(1)
	if e.EmbedFunc != nil {
		return e.EmbedFunc(ctx, req)
	}
	out := &models.Embeddings{Model: req.Model}
	for _, in := range req.Input {
		n := float32(len(in))
		v := []float32{n + 1, 2, 3, 4}
		if !req.Raw {
			var sum float64
			for _, x := range v {
				sum += float64(x * x)
			}
			for i := range v {
				v[i] /= float32(math.Sqrt(sum))
			}
		}
		out.Vectors = append(out.Vectors, v)
		out.PromptTokens += len(in)
	}
	return out, nil
}

// Describer is a fake models.Describer.
type Describer struct {
	// DescribeFunc answers Describe. Nil: Description with the model's name
	// ("mock" for "") and capability completion.
	DescribeFunc func(ctx context.Context, model string) (*models.Description, error)
	// LoadedFunc answers Loaded. Nil: nothing loaded.
	LoadedFunc func(ctx context.Context) ([]models.Loaded, error)
}

var _ models.Describer = Describer{}

// Describe implements models.Describer.
func (d Describer) Describe(ctx context.Context, model string) (*models.Description, error) {
	if d.DescribeFunc != nil {
		return d.DescribeFunc(ctx, model)
	}
	if model == "" {
		model = "mock"
	}
	return &models.Description{Model: model, Capabilities: []string{"completion"}}, nil
}

// Loaded implements models.Describer.
func (d Describer) Loaded(ctx context.Context) ([]models.Loaded, error) {
	if d.LoadedFunc != nil {
		return d.LoadedFunc(ctx)
	}
	return nil, nil
}
