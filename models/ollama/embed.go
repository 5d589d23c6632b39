package ollama

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ollama/ollama/api"

	"github.com/edgecascade/edgecascade/models"
)

var (
	_ models.Embedder  = (*Client)(nil)
	_ models.Describer = (*Client)(nil)
)

// Embed computes embeddings: normalized ones from /api/embed (one call for
// the whole batch), raw ones from the legacy /api/embeddings (one call an
// input; it reports no token count).
func (c *Client) Embed(ctx context.Context, req models.EmbedRequest) (*models.Embeddings, error) {
	model := req.Model
	if model == "" {
		model = c.model
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var keep *api.Duration
	if req.KeepAlive != nil {
		keep = &api.Duration{Duration: *req.KeepAlive}
	}
	out := &models.Embeddings{Model: model}
	if req.Raw {
		if req.Truncate != nil {
			return nil, c.wrapModel(ctx, model, fmt.Errorf("embeddings: %w", badRequest("truncate is not supported by the legacy embeddings")))
		}
		for _, in := range req.Input {
			resp, err := c.api.Embeddings(ctx, &api.EmbeddingRequest{Model: model, Prompt: in, KeepAlive: keep, Options: req.Options})
			if err != nil {
				return nil, c.wrapModel(ctx, model, fmt.Errorf("embeddings: %w", err))
			}
			v := make([]float32, len(resp.Embedding))
			for i, f := range resp.Embedding {
				v[i] = float32(f)
			}
			out.Vectors = append(out.Vectors, v)
		}
		return out, nil
	}
	resp, err := c.api.Embed(ctx, &api.EmbedRequest{Model: model, Input: req.Input, Truncate: req.Truncate, KeepAlive: keep, Options: req.Options})
	if err != nil {
		return nil, c.wrapModel(ctx, model, fmt.Errorf("embed: %w", err))
	}
	if len(resp.Embeddings) != len(req.Input) {
		return nil, c.wrapModel(ctx, model, fmt.Errorf("embed returned %d vectors for %d inputs", len(resp.Embeddings), len(req.Input)))
	}
	out.Vectors, out.PromptTokens = resp.Embeddings, resp.PromptEvalCount
	return out, nil
}

// badRequest is a client error Ollama would have answered with 400.
func badRequest(msg string) error {
	return api.StatusError{StatusCode: 400, ErrorMessage: msg}
}

// wrapModel is wrap for a model other than the client's own.
func (c *Client) wrapModel(ctx context.Context, model string, err error) error {
	e := c.wrap(ctx, err)
	var me *models.Error
	if errors.As(e, &me) && model != c.model {
		me.Model = model
		if me.Hint != "" {
			me.Hint = fmt.Sprintf("import it with `ollama pull %s` or `ollama create %s -f Modelfile`", model, model)
		}
	}
	return e
}

// Describe is Ollama's /api/show of the model: its details, template,
// parameters, capabilities, metadata, and the context length it runs with
// (ContextLength's rule).
func (c *Client) Describe(ctx context.Context, model string) (*models.Description, error) {
	if model == "" {
		model = c.model
	}
	show, err := c.api.Show(ctx, &api.ShowRequest{Model: model})
	if err != nil {
		return nil, c.wrapModel(ctx, model, fmt.Errorf("show: %w", err))
	}
	d := &models.Description{
		Model: model, Format: show.Details.Format, Family: show.Details.Family, ParentModel: show.Details.ParentModel,
		ParameterSize: show.Details.ParameterSize, QuantizationLevel: show.Details.QuantizationLevel,
		Families: show.Details.Families, Template: show.Template, Parameters: show.Parameters,
		ModelInfo: show.ModelInfo, ModifiedAt: show.ModifiedAt, ContextLength: contextLength(show),
	}
	for _, cp := range show.Capabilities {
		d.Capabilities = append(d.Capabilities, string(cp))
	}
	return d, nil
}

// Loaded is Ollama's /api/ps.
func (c *Client) Loaded(ctx context.Context) ([]models.Loaded, error) {
	ps, err := c.api.ListRunning(ctx)
	if err != nil {
		return nil, c.wrap(ctx, fmt.Errorf("ps: %w", err))
	}
	var out []models.Loaded
	for _, m := range ps.Models {
		out = append(out, models.Loaded{
			Description: models.Description{Model: m.Model, Format: m.Details.Format, Family: m.Details.Family,
				ParentModel: m.Details.ParentModel, Families: m.Details.Families, ParameterSize: m.Details.ParameterSize,
				QuantizationLevel: m.Details.QuantizationLevel, ContextLength: m.ContextLength},
			Digest: m.Digest, Size: m.Size, SizeVRAM: m.SizeVRAM, ExpiresAt: m.ExpiresAt,
		})
	}
	return out, nil
}

// contextLength is the model's num_ctx parameter when set, else Ollama's
// default capped at the length the model was trained for.
func contextLength(show *api.ShowResponse) int {
	for _, line := range strings.Split(show.Parameters, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "num_ctx" {
			if n, err := strconv.Atoi(f[1]); err == nil && n > 0 {
				return n
			}
		}
	}
	n := ollamaDefaultContext
	keys := make([]string, 0, len(show.ModelInfo))
	for k := range show.ModelInfo {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if strings.HasSuffix(k, ".context_length") {
			if f, ok := show.ModelInfo[k].(float64); ok && f > 0 && int(f) < n {
				n = int(f)
			}
		}
	}
	return n
}
