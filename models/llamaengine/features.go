//go:build llamacpp

package llamaengine

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// Features returns the final-layer hidden state (after the output norm,
// before the vocabulary projection) of text, which is tokenized with
// special tokens parsed: the last token's state (PoolLast, the default, as
// Ollama's /api/embed) or the mean of every token's (PoolMean),
// L2-normalized unless Config.RawFeatures is set. One forward pass.
func (e *Engine) Features(ctx context.Context, text string) ([]float32, error) {
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	if err := e.acquire(ctx); err != nil {
		return nil, err
	}
	defer e.release()
	toks, err := e.tokenize(text, true)
	if err != nil {
		return nil, err
	}
	if len(toks) > e.nCtx {
		return nil, e.badRequest(fmt.Errorf("the text (%d tokens) does not fit the context (%d tokens)", len(toks), e.nCtx), "")
	}
	var sum []float64
	n := 0
	want := func(pos int) bool { return e.pooling == PoolMean || pos == len(toks)-1 }
	e.lc.KvCacheClear()
	err = e.decode(ctx, toks, 0, want, func(_, i int) error {
		h := e.lc.GetEmbeddingsIth(i)
		if len(h) == 0 {
			return errors.New("llama.cpp returned no hidden state")
		}
		if sum == nil {
			sum = make([]float64, len(h))
		}
		for j, x := range h {
			sum[j] += float64(x)
		}
		n++
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(sum))
	var norm float64
	for _, s := range sum {
		norm += (s / float64(n)) * (s / float64(n))
	}
	norm = math.Sqrt(norm)
	for j, s := range sum {
		v := s / float64(n)
		if !e.raw && norm > 0 {
			v /= norm
		}
		out[j] = float32(v)
	}
	return out, nil
}
