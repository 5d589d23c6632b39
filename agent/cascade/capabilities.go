package cascade

import (
	"context"

	"github.com/edgecascade/edgecascade/models"
)

// Tools and images: a request that has them goes to the local model only
// when its backend reports the capability (run: the plan's skip under auto,
// an UnsupportedError under local); a local tool call is scored from the
// tokens the model generated, like any answer.

// unsupported reports what the request needs that the local model does not
// take, as its backend reports its capabilities (models.Capabler): tools
// and images need "tools" and "vision"; a model that reports none takes
// text only. Nil when the local model can answer.
func (c *Cascade) unsupported(ctx context.Context, req Request) *UnsupportedError {
	need := models.Needs(req.Messages, req.Options)
	if len(need) == 0 {
		return nil
	}
	var caps []string
	if cb, ok := c.local.(models.Capabler); ok {
		var err error
		if caps, err = cb.Capabilities(ctx); err != nil {
			return &UnsupportedError{Capability: need[0], Model: c.local.Name(), Err: err}
		}
	}
	if m := models.Missing(need, caps); m != "" {
		return &UnsupportedError{Capability: m, Model: c.local.Name()}
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
