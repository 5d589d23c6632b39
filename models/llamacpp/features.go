package llamacpp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
)

// embeddingRequest is the body of POST /embedding. embd_normalize -1 asks
// for the pooled vector as computed (newer servers normalize it with L2 by
// default; older ones always did, and ignore this field); Features then
// normalizes itself unless Config.RawFeatures is set, so both pooling modes
// end up on the same scale. The model name only matters to a router-mode
// server, which routes on it.
type embeddingRequest struct {
	Model         string `json:"model,omitempty"`
	Content       string `json:"content"`
	EmbdNormalize int    `json:"embd_normalize"`
}

// Features returns one hidden-state vector for text from POST /embedding
// (llama-server started with --embeddings).
//
// With --pooling none the server returns every token's final hidden state,
// special tokens included; Features averages them (mean pooling). With any
// other pooling it returns one pooled vector, used as is. Either way the
// result is L2-normalized unless Config.RawFeatures is set.
func (c *Client) Features(ctx context.Context, text string) ([]float32, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := c.send(ctx, http.MethodPost, pathEmbedding, embeddingRequest{Model: c.model, Content: text, EmbdNormalize: -1})
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, c.wrap(ctx, fmt.Errorf("read embedding: %w", err))
	}
	rows, err := parseEmbedding(body)
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	vec, err := meanPool(rows)
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	if !c.raw {
		l2Normalize(vec)
	}
	return vec, nil
}

// embeddingItem is one result of POST /embedding: embedding is one vector
// (pooled, older servers) or one vector per row (newer servers: every token
// with --pooling none, a single pooled row otherwise).
type embeddingItem struct {
	Index     int             `json:"index"`
	Embedding json.RawMessage `json:"embedding"`
}

// parseEmbedding reads any shape /embedding has answered with:
//
//	[{"index":0,"embedding":[[...],[...]]}]  per-token rows (--pooling none)
//	[{"index":0,"embedding":[[...]]}]        one pooled row
//	[{"index":0,"embedding":[...]}]          one pooled vector
//	{"index":0,"embedding":[...]}            older servers, single prompt
//	{"embedding":[...]}                      older still
//
// and returns its rows.
func parseEmbedding(body []byte) ([][]float32, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New("decode embedding: empty body")
	}
	var item embeddingItem
	switch body[0] {
	case '[':
		var items []embeddingItem
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, fmt.Errorf("decode embedding: %w", err)
		}
		if len(items) == 0 {
			return nil, errors.New("decode embedding: no results")
		}
		item = items[0]
		for _, it := range items {
			if it.Index == 0 {
				item = it
				break
			}
		}
	case '{':
		if err := json.Unmarshal(body, &item); err != nil {
			return nil, fmt.Errorf("decode embedding: %w", err)
		}
	default:
		return nil, fmt.Errorf("decode embedding: unexpected body %q", clip(string(body), 80))
	}
	raw := bytes.TrimSpace(item.Embedding)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("decode embedding: no embedding field")
	}
	// One vector or rows: look at the first element.
	inner := bytes.TrimSpace(bytes.TrimPrefix(raw, []byte("[")))
	if len(inner) > 0 && inner[0] == '[' {
		var rows [][]float32
		if err := json.Unmarshal(raw, &rows); err != nil {
			return nil, fmt.Errorf("decode embedding rows: %w", err)
		}
		return rows, nil
	}
	var vec []float32
	if err := json.Unmarshal(raw, &vec); err != nil {
		return nil, fmt.Errorf("decode embedding vector: %w", err)
	}
	return [][]float32{vec}, nil
}

// meanPool averages rows element-wise (in float64). One row is returned as
// a copy of itself.
func meanPool(rows [][]float32) ([]float32, error) {
	if len(rows) == 0 {
		return nil, errors.New("embedding has no vectors")
	}
	dim := len(rows[0])
	if dim == 0 {
		return nil, errors.New("embedding vectors are empty")
	}
	sum := make([]float64, dim)
	for i, r := range rows {
		if len(r) != dim {
			return nil, fmt.Errorf("embedding row %d has %d values, row 0 has %d", i, len(r), dim)
		}
		for j, v := range r {
			sum[j] += float64(v)
		}
	}
	out := make([]float32, dim)
	n := float64(len(rows))
	for j, s := range sum {
		out[j] = float32(s / n)
	}
	return out, nil
}

// l2Normalize scales v to unit Euclidean length in place; a zero vector is
// left as is.
func l2Normalize(v []float32) {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 || math.IsInf(ss, 0) || math.IsNaN(ss) {
		return
	}
	inv := 1 / math.Sqrt(ss)
	for i, x := range v {
		v[i] = float32(float64(x) * inv)
	}
}
