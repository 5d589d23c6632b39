package cascade

import (
	"context"

	"github.com/edgecascade/edgecascade/models"
)

// Tools and images: a request that has them goes to a local model only
// when its backend reports the capability (run: the plan's skip under auto
// when no local stage takes them, an UnsupportedError under local; walk:
// a later stage that does not take them is skipped with the reason); a local
// tool call is scored from the tokens the model generated, like any answer.

// unsupported reports what the request needs that no local stage takes: the
// first stage's refusal when none can answer, nil when one can.
func (c *Cascade) unsupported(ctx context.Context, req Request) *UnsupportedError {
	first := unsupportedBy(ctx, c.local, req)
	if first == nil {
		return nil
	}
	for _, s := range c.opts.Stages {
		if unsupportedBy(ctx, s.Model, req) == nil {
			return nil
		}
	}
	return first
}

// unsupportedBy reports what the request needs that model m does not take,
// as its backend reports its capabilities (models.Capabler): tools and
// images need "tools" and "vision"; a model that reports none takes text
// only. Nil when m can answer.
func unsupportedBy(ctx context.Context, m models.Model, req Request) *UnsupportedError {
	need := models.Needs(req.Messages, req.Options)
	if len(need) == 0 {
		return nil
	}
	var caps []string
	if cb, ok := m.(models.Capabler); ok {
		var err error
		if caps, err = cb.Capabilities(ctx); err != nil {
			return &UnsupportedError{Capability: need[0], Model: m.Name(), Err: err}
		}
	}
	if missing := models.Missing(need, caps); missing != "" {
		return &UnsupportedError{Capability: missing, Model: m.Name()}
	}
	return nil
}

// answerText is the text a scorer reads of a local answer: its content, and
// its tool calls as name(arguments) lines (their tokens' logprobs are in
// the answer's tokens like any others).
func answerText(resp *models.Response) string {
	if len(resp.ToolCalls) == 0 {
		return resp.Content
	}
	text := resp.Content
	for _, tc := range resp.ToolCalls {
		if text != "" {
			text += "\n"
		}
		text += tc.Name + "(" + string(tc.Arguments) + ")"
	}
	return text
}
