package cascade

import (
	"context"
	"strings"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/uq"
)

// TokenCounter counts tokens of a text (models/tokenizer implements it).
type TokenCounter interface {
	Count(text string) (int, error)
}

// ContextCheck routes prompts that cannot fit the local model's context
// straight to the cloud.
type ContextCheck struct {
	// Counter counts tokens; Exact says whether it is the model's own
	// tokenizer (then the rendered conversation is counted) or an estimate
	// (then the message texts are).
	Counter TokenCounter
	Exact   bool
	// Length is the local model's context length in tokens.
	Length int
}

// Pregen is the pre-generation probe: it predicts from the prompt alone
// whether the local model will be right, and when it is confidently
// negative the local generation is skipped.
type Pregen struct {
	Features  uq.Features
	Predictor uq.Predictor
	// Threshold: skip local generation when the probability is at most this.
	Threshold float64
}

// preflight decides, before any local generation in auto mode, whether the
// request must skip the local model, and why: the prompt does not fit its
// context, or the pre-generation probe predicts a wrong answer (and the
// cloud may be called). Nil means generate locally.
func (c *Cascade) preflight(ctx context.Context, r *Routing, req Request) *Cause {
	if n, ok := c.fits(ctx, req); !ok {
		why := contextLengthCause(n, req.MaxTokens, c.opts.Context.Length)
		return &why
	}
	if r.Pregen == nil {
		return nil
	}
	p, err := c.pregenProbability(ctx, r.Pregen, req)
	if err != nil {
		c.log.Warn("pre-generation probe failed; generating locally", "err", err)
		return nil
	}
	if p > r.Pregen.Threshold {
		return nil
	}
	if ok, why := c.cloudAllowed(); !ok {
		c.log.Info("pre-generation probe would skip the local model, but the cloud cannot be called", "p", p, "why", why)
		return nil
	}
	why := pregenCause(p, r.Pregen.Threshold)
	return &why
}

// fits reports whether the prompt and the answer's reserve fit the local
// context, with the prompt's token count. Without a context check, or when
// the tokens cannot be counted, everything fits.
func (c *Cascade) fits(ctx context.Context, req Request) (int, bool) {
	cc := c.opts.Context
	if cc.Counter == nil || cc.Length <= 0 {
		return 0, true
	}
	n, err := c.promptTokens(ctx, req)
	if err != nil {
		c.log.Warn("could not count prompt tokens; skipping the context check", "err", err)
		return 0, true
	}
	return n, n+req.MaxTokens <= cc.Length
}

// promptTokens counts the request's prompt tokens.
func (c *Cascade) promptTokens(ctx context.Context, req Request) (int, error) {
	cc := c.opts.Context
	if cc.Exact {
		if r, ok := c.local.(models.Renderer); ok {
			text, err := r.Render(ctx, req.Messages)
			if err != nil {
				return 0, err
			}
			return cc.Counter.Count(text)
		}
	}
	var sb strings.Builder
	for _, m := range req.Messages {
		sb.WriteString(m.Role)
		sb.WriteString("\n")
		sb.WriteString(m.Content)
		sb.WriteString("\n")
	}
	return cc.Counter.Count(sb.String())
}

func (c *Cascade) pregenProbability(ctx context.Context, pg *Pregen, req Request) (float64, error) {
	text, err := uq.PromptText(ctx, pg.Features, req.Messages)
	if err != nil {
		return 0, err
	}
	f, err := pg.Features.Features(ctx, text)
	if err != nil {
		return 0, err
	}
	return pg.Predictor.Predict(ctx, f)
}
