//go:build llamacpp

package llamaengine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ollama/ollama/llama"

	"github.com/edgecascade/edgecascade/models"
)

// Sampling follows Ollama's defaults (api.DefaultOptions) through the
// same llama.cpp sampler chain Ollama's runner uses: repeat penalty 1.1 over
// the last 64 tokens (the prompt's included), top-k 40, top-p 0.9, then the
// temperature; temperature 0 — also the default here, when a request sets
// none — picks the most likely token after the penalty. So a GGUF answers
// the same through this engine as through Ollama, and calibrations carry
// over between the two backends.
var samplingDefaults = llama.SamplingParams{
	TopK: 40, TopP: 0.9, MinP: 0, TypicalP: 1, RepeatLastN: 64, PenaltyRepeat: 1.1,
	Seed: math.MaxUint32, // LLAMA_DEFAULT_SEED: a random seed per request
}

// maxTopLogprobs is the most alternatives a position reports (as Ollama and
// OpenAI allow).
const maxTopLogprobs = 20

// Chat generates a complete answer.
func (e *Engine) Chat(ctx context.Context, req models.Request) (*models.Response, error) {
	return e.generate(ctx, req, nil)
}

// ChatStream generates an answer, calling fn with each piece of text as it
// is produced (with the tokens that produced it), and returns the complete
// answer. Text is passed on only at UTF-8 boundaries, so a character split
// across tokens arrives whole.
func (e *Engine) ChatStream(ctx context.Context, req models.Request, fn models.ChunkFunc) (*models.Response, error) {
	if fn == nil {
		return nil, errors.New("llamaengine: nil chunk func")
	}
	return e.generate(ctx, req, fn)
}

func (e *Engine) generate(ctx context.Context, req models.Request, fn models.ChunkFunc) (*models.Response, error) {
	if req.MaxTokens < 0 {
		return nil, e.badRequest(fmt.Errorf("max tokens %d is negative", req.MaxTokens), "")
	}
	if req.TopLogprobs < 0 || req.TopLogprobs > maxTopLogprobs {
		return nil, e.badRequest(fmt.Errorf("top logprobs %d outside 0-%d", req.TopLogprobs, maxTopLogprobs), "")
	}
	if o := req.Options; len(o.Stop) > 0 || o.Seed != nil || o.TopP != nil || o.FrequencyPenalty != nil || o.PresencePenalty != nil || o.Format != nil {
		return nil, e.badRequest(errors.New("stop, seed, top_p, penalties and JSON format are not supported by the in-process engine"), "use the ollama or llamacpp backend")
	}
	if req.NumCtx > e.nCtx {
		return nil, e.badRequest(fmt.Errorf("num_ctx %d is larger than the engine's context of %d tokens", req.NumCtx, e.nCtx),
			"the engine's context is fixed when it loads: ask for at most that")
	}
	if req.TopK != nil && *req.TopK < 0 {
		return nil, e.badRequest(fmt.Errorf("top_k %d is negative", *req.TopK), "")
	}
	temp := 0.0
	if req.Temperature != nil {
		temp = *req.Temperature
		if temp < 0 || math.IsNaN(temp) || math.IsInf(temp, 0) {
			return nil, e.badRequest(fmt.Errorf("temperature %v: want a finite number >= 0", temp), "")
		}
	}
	prompt, err := e.tpl.Render(req.Messages)
	if cmpl := req.Completion; cmpl != nil && err == nil {
		// A raw prompt is continued as is; fill-in-the-middle needs a
		// template's insert support, which the engine's templates lack.
		if cmpl.Suffix != "" {
			return nil, e.badRequest(errors.New("suffix (fill-in-the-middle) is not supported by the in-process engine"), "use the ollama backend with a model whose template supports insert")
		}
		if cmpl.Raw {
			prompt = cmpl.Prompt
		}
	}
	if err != nil {
		return nil, e.badRequest(err, "")
	}
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	start := time.Now()
	if err := e.acquire(ctx); err != nil {
		return nil, err
	}
	defer e.release()

	tokens, err := e.tokenize(prompt, true)
	if err != nil {
		return nil, err
	}
	if len(tokens) >= e.nCtx {
		return nil, e.badRequest(fmt.Errorf("the prompt (%d tokens) does not fit the context (%d tokens)", len(tokens), e.nCtx),
			"shorten the conversation or raise the engine's context size")
	}
	e.lc.KvCacheClear()
	last := -1
	if err := e.decode(ctx, tokens, 0, func(pos int) bool { return pos == len(tokens)-1 }, func(_, i int) error {
		last = i
		return nil
	}); err != nil {
		return nil, err
	}
	promptDone := time.Now()

	maxNew := e.nCtx - len(tokens)
	if req.MaxTokens > 0 {
		maxNew = min(maxNew, req.MaxTokens)
	}
	sp := samplingDefaults
	sp.Temp = float32(temp)
	if req.TopK != nil && *req.TopK > 0 {
		sp.TopK = *req.TopK
	}
	sampler, err := llama.NewSamplingContext(e.model, sp)
	if err != nil {
		return nil, e.wrap(ctx, fmt.Errorf("sampler: %w", err))
	}
	for _, t := range tokens {
		sampler.Accept(t, false) // the prompt counts for the repeat penalty
	}
	out := &models.Response{Model: e.name, PromptTokens: len(tokens), FinishReason: "length"}
	var text strings.Builder
	var pending []byte                    // bytes of a character not yet complete
	var pendingToks []models.TokenLogprob // tokens whose text is still pending
	flush := func(final bool) error {
		if len(pending) == 0 && len(pendingToks) == 0 {
			return nil
		}
		cut := len(pending)
		if !final {
			cut = completePrefix(pending)
		}
		if cut == 0 && !final {
			return nil
		}
		chunk := models.Chunk{Content: string(pending[:cut]), Tokens: pendingToks}
		text.WriteString(chunk.Content)
		pending = append(pending[:0], pending[cut:]...)
		pendingToks = nil
		if fn != nil {
			return fn(chunk)
		}
		return nil
	}
	pos := len(tokens)
	for n := 0; n < maxNew; n++ {
		if err := ctx.Err(); err != nil {
			return nil, e.wrap(ctx, err)
		}
		logits := e.lc.GetLogitsIth(last)
		if logits == nil {
			return nil, e.wrap(ctx, errors.New("llama.cpp returned no logits"))
		}
		tok := sampler.Sample(e.lc, last)
		sampler.Accept(tok, true)
		if e.model.TokenIsEog(tok) {
			out.FinishReason = "stop"
			break
		}
		piece := e.model.TokenToPiece(tok)
		tl := tokenLogprob(logits, tok, req.TopLogprobs, e.model.TokenToPiece)
		tl.Token = piece
		out.Tokens = append(out.Tokens, tl)
		out.CompletionTokens++
		pending = append(pending, piece...)
		pendingToks = append(pendingToks, tl)
		if err := flush(false); err != nil {
			return nil, err
		}
		if n == maxNew-1 {
			break // no need to decode a token nobody will read
		}
		if err := e.decode(ctx, []int{tok}, pos, func(int) bool { return true }, func(_, i int) error {
			last = i
			return nil
		}); err != nil {
			return nil, err
		}
		pos++
	}
	if err := flush(true); err != nil {
		return nil, err
	}
	out.Content = text.String()
	end := time.Now()
	out.Timings = models.Timings{Total: end.Sub(start), PromptEval: promptDone.Sub(start), Eval: end.Sub(promptDone)}
	return out, nil
}

// completePrefix is the length of b without a trailing, still incomplete
// UTF-8 character: the text that can be passed on now. Invalid bytes are
// passed on as they are rather than held forever.
func completePrefix(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}

// ScoreAnswer returns the log probability the model gives each token of
// answer after the conversation (teacher forcing: the answer is fed in,
// not generated), with the topLogprobs most likely alternatives at each
// position. The answer is tokenized on its own, special tokens included
// (so a trailing "<CN>" is the confidence token).
func (e *Engine) ScoreAnswer(ctx context.Context, msgs []models.Message, answer string, topLogprobs int) ([]models.TokenLogprob, error) {
	if topLogprobs < 0 || topLogprobs > maxTopLogprobs {
		return nil, e.badRequest(fmt.Errorf("top logprobs %d outside 0-%d", topLogprobs, maxTopLogprobs), "")
	}
	if answer == "" {
		return nil, e.badRequest(errors.New("empty answer"), "")
	}
	prompt, err := e.tpl.Render(msgs)
	if err != nil {
		return nil, e.badRequest(err, "")
	}
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	if err := e.acquire(ctx); err != nil {
		return nil, err
	}
	defer e.release()
	p, err := e.tokenize(prompt, true)
	if err != nil {
		return nil, err
	}
	a, err := e.tokenize(answer, false)
	if err != nil {
		return nil, err
	}
	all := append(p, a...)
	if len(all) > e.nCtx {
		return nil, e.badRequest(fmt.Errorf("the prompt and answer (%d tokens) do not fit the context (%d tokens)", len(all), e.nCtx), "")
	}
	out := make([]models.TokenLogprob, len(a))
	e.lc.KvCacheClear()
	// The logits at position k predict the token at k+1.
	err = e.decode(ctx, all, 0, func(pos int) bool { return pos >= len(p)-1 && pos < len(all)-1 }, func(pos, i int) error {
		logits := e.lc.GetLogitsIth(i)
		if logits == nil {
			return errors.New("llama.cpp returned no logits")
		}
		k := pos + 1 - len(p)
		out[k] = tokenLogprob(logits, a[k], topLogprobs, e.model.TokenToPiece)
		out[k].Token = e.model.TokenToPiece(a[k])
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// tokenize turns text into tokens, parsing special tokens (the template's
// <|im_start|> and the like); bos adds the model's BOS token when the model
// asks for one.
func (e *Engine) tokenize(text string, bos bool) ([]int, error) {
	toks, err := e.model.Tokenize(text, bos, true)
	if err != nil {
		return nil, e.badRequest(fmt.Errorf("tokenize: %w", err), "")
	}
	if len(toks) == 0 {
		return nil, e.badRequest(errors.New("the text has no tokens"), "")
	}
	return toks, nil
}

// decode feeds tokens at positions start, start+1, … in batches. For each
// position where output(pos) holds, llama.cpp keeps the logits and hidden
// state, and got(pos, i) is called after its batch is decoded, with i the
// index to read them at. It stops early when ctx ends.
func (e *Engine) decode(ctx context.Context, tokens []int, start int, output func(pos int) bool, got func(pos, i int) error) error {
	for off := 0; off < len(tokens); off += e.nBatch {
		if err := ctx.Err(); err != nil {
			return e.wrap(ctx, err)
		}
		end := min(off+e.nBatch, len(tokens))
		e.batch.Clear()
		var outs []int
		for j, t := range tokens[off:end] {
			pos := start + off + j
			o := output(pos)
			e.batch.Add(t, nil, pos, o, 0)
			if o {
				outs = append(outs, j)
			}
		}
		if err := e.lc.Decode(e.batch); err != nil {
			return e.wrap(ctx, fmt.Errorf("decode: %w", err))
		}
		for _, j := range outs {
			if err := got(start+off+j, j); err != nil {
				return e.wrap(ctx, err)
			}
		}
	}
	return nil
}

// logSoftmax returns log p(i) = logit_i - logsumexp(logits) in float64.
func logSoftmax(logits []float32) []float64 {
	m := float32(math.Inf(-1))
	for _, l := range logits {
		m = max(m, l)
	}
	var sum float64
	for _, l := range logits {
		sum += math.Exp(float64(l - m))
	}
	lse := float64(m) + math.Log(sum)
	out := make([]float64, len(logits))
	for i, l := range logits {
		out[i] = float64(l) - lse
	}
	return out
}

// tokenLogprob is tok's log probability under the raw logits (before any
// sampling transform, as Ollama reports it) and the k most likely tokens.
func tokenLogprob(logits []float32, tok, k int, piece func(int) string) models.TokenLogprob {
	lp := logSoftmax(logits)
	out := models.TokenLogprob{Logprob: lp[tok]}
	for _, id := range topK(lp, k) {
		out.Top = append(out.Top, models.TopLogprob{Token: piece(id), Logprob: lp[id]})
	}
	return out
}

// topK returns the indices of the k largest values, largest first (ties:
// lower index first).
func topK(v []float64, k int) []int {
	k = min(k, len(v))
	if k <= 0 {
		return nil
	}
	idx := make([]int, 0, k+1)
	for i, x := range v {
		if len(idx) == k && x <= v[idx[k-1]] {
			continue
		}
		j := sort.Search(len(idx), func(j int) bool { return v[idx[j]] < x })
		idx = append(idx, 0)
		copy(idx[j+1:], idx[j:])
		idx[j] = i
		if len(idx) > k {
			idx = idx[:k]
		}
	}
	return idx
}
