package llamacpp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/edgecascade/edgecascade/models"
)

var _ models.Embedder = (*Client)(nil)

// Embed computes one vector per input from POST /embedding (llama-server
// started with --embeddings), one call an input: the pooled vector, or the
// mean of the per-token rows under --pooling none; L2-normalized unless
// req.Raw. llama-server reports no token count (PromptTokens 0) and has no
// truncate, options or keep_alive: those are refused with ErrBadRequest.
func (c *Client) Embed(ctx context.Context, req models.EmbedRequest) (*models.Embeddings, error) {
	bad := func(field string) error {
		return &models.Error{Backend: backendName, Model: c.model, Kind: models.ErrBadRequest,
			Err: fmt.Errorf("%s is not supported by llama-server embeddings", field)}
	}
	switch {
	case req.Truncate != nil:
		return nil, bad("truncate")
	case len(req.Options) > 0:
		return nil, bad("options")
	case req.KeepAlive != nil:
		return nil, bad("keep_alive")
	}
	model := req.Model
	if model == "" {
		model = c.model
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	out := &models.Embeddings{Model: model}
	for _, in := range req.Input {
		vec, err := c.embedOne(ctx, model, in)
		if err != nil {
			return nil, c.wrap(ctx, err)
		}
		if !req.Raw {
			l2Normalize(vec)
		}
		out.Vectors = append(out.Vectors, vec)
	}
	return out, nil
}

func (c *Client) embedOne(ctx context.Context, model, text string) ([]float32, error) {
	resp, err := c.send(ctx, http.MethodPost, pathEmbedding, embeddingRequest{Model: model, Content: text, EmbdNormalize: -1})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read embedding: %w", err)
	}
	rows, err := parseEmbedding(body)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, errors.New("embedding has no vectors")
	}
	return meanPool(rows)
}
