package ollama

import (
	"context"
	"errors"
	"fmt"

	"github.com/ollama/ollama/api"

	"github.com/edgecascade/edgecascade/models"
)

var (
	_ models.FeatureExtractor = (*Client)(nil)
	_ models.Renderer         = (*Client)(nil)
	_ models.ContextSizer     = (*Client)(nil)
)

// Features returns the final-layer hidden state of the text's last token,
// L2-normalized, from /api/embed on the generative model (one forward pass).
func (c *Client) Features(ctx context.Context, text string) ([]float32, error) {
	truncate := false
	resp, err := c.api.Embed(ctx, &api.EmbedRequest{Model: c.model, Input: text, Truncate: &truncate})
	if err != nil {
		return nil, c.wrap(ctx, fmt.Errorf("embed: %w", err))
	}
	if len(resp.Embeddings) != 1 || len(resp.Embeddings[0]) == 0 {
		return nil, c.wrap(ctx, fmt.Errorf("embed returned %d vectors", len(resp.Embeddings)))
	}
	return resp.Embeddings[0], nil
}

// Render renders the conversation with the model's own template (Ollama's
// render-only chat mode: no generation).
func (c *Client) Render(ctx context.Context, msgs []models.Message) (string, error) {
	stream := false
	req := &api.ChatRequest{Model: c.model, Stream: &stream, DebugRenderOnly: true, Messages: make([]api.Message, len(msgs))}
	for i, m := range msgs {
		req.Messages[i] = api.Message{Role: m.Role, Content: m.Content}
	}
	var out string
	got := false
	err := c.api.Chat(ctx, req, func(r api.ChatResponse) error {
		if r.DebugInfo != nil {
			out, got = r.DebugInfo.RenderedTemplate, true
		}
		return nil
	})
	if err != nil {
		return "", c.wrap(ctx, fmt.Errorf("render: %w", err))
	}
	if !got {
		return "", c.wrap(ctx, errors.New("render: the server returned no rendered template (Ollama too old?)"))
	}
	return out, nil
}

// ollamaDefaultContext is Ollama's context size when a model sets none.
const ollamaDefaultContext = 4096

// ContextLength is the model's num_ctx parameter when set, else Ollama's
// default capped at the length the model was trained for.
func (c *Client) ContextLength(ctx context.Context) (int, error) {
	show, err := c.api.Show(ctx, &api.ShowRequest{Model: c.model})
	if err != nil {
		return 0, c.wrap(ctx, err)
	}
	return contextLength(show), nil
}
