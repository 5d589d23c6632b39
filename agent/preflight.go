package agent

import (
	"context"
	"fmt"
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

// ContextLengthError is a prompt that cannot fit the local model's context
// under policy local.
type ContextLengthError struct{ Tokens, Reserve, Length int }

func (e *ContextLengthError) Error() string {
	return fmt.Sprintf("the prompt has %d tokens and %d are reserved for the answer, but the local model's context holds %d: shorten it or use model auto or cloud", e.Tokens, e.Reserve, e.Length)
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

// preflight decides, before any local generation, whether the request must
// skip the local model: the prompt does not fit its context, or the
// pre-generation probe predicts a wrong answer. It sets the decision's
// reason when it says skip.
func (c *Cascade) preflight(ctx context.Context, r *Routing, policy Policy, req Request, d *Decision) (bool, error) {
	if cc := c.opts.Context; cc.Counter != nil && cc.Length > 0 {
		n, err := c.promptTokens(ctx, req)
		if err != nil {
			c.log.Warn("could not count prompt tokens; skipping the context check", "err", err)
		} else if n+req.MaxTokens > cc.Length {
			if policy == PolicyLocal {
				return false, &ContextLengthError{Tokens: n, Reserve: req.MaxTokens, Length: cc.Length}
			}
			d.Escalated = true
			d.Reason = fmt.Sprintf("prompt has %d tokens (+%d reserved for the answer), the local context holds %d; sent to the cloud", n, req.MaxTokens, cc.Length)
			d.cause = causeContextLength
			return true, nil
		}
	}
	if policy != PolicyAuto || r.Pregen == nil {
		return false, nil
	}
	p, err := c.pregenProbability(ctx, r.Pregen, req)
	if err != nil {
		c.log.Warn("pre-generation probe failed; generating locally", "err", err)
		return false, nil
	}
	if p <= r.Pregen.Threshold {
		if ok, why := c.cloudAllowed(); !ok {
			c.log.Info("pre-generation probe would skip the local model, but the cloud cannot be called", "p", p, "why", why)
			return false, nil
		}
		d.Escalated = true
		d.Reason = fmt.Sprintf("pre-generation probe: p(local right) %.3f <= %.3f; skipped local generation", p, r.Pregen.Threshold)
		d.cause = causePregenProbe
		return true, nil
	}
	return false, nil
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
