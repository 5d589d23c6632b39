package budget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
)

// DefaultMaxTokens is the answer allowance of a request that sets no max
// tokens while a token or cost cap is set (GuardOptions.DefaultMaxTokens).
const DefaultMaxTokens = 4096

// GuardOptions configure a Guard.
type GuardOptions struct {
	// Price is the highest per-1K-token price of the providers behind the
	// guard (cloud.Chain.MaxPrice): a call's worst-case cost is reserved at
	// it, and a call the provider reported no usage for is costed at it.
	// Zero: costs come only from the answers' Cost.
	Price cloud.Price
	// DefaultMaxTokens bounds the answer of a request that sets no max
	// tokens while a token or cost cap is set: the request is sent with it
	// (or with less, when a cap could not hold the prompt and that many
	// tokens) as its max tokens, so that its worst case is known and
	// reserved. Zero means DefaultMaxTokens.
	DefaultMaxTokens int
	// Log receives persistence errors; nil discards.
	Log *slog.Logger
}

// Guard is a cloud.Provider that refuses at once, with cloud.ErrBudget, when
// a cap is reached or the call's worst case would pass one (with
// cloud.ErrOverCap when it passes one by itself), and records the use of
// every call that may have been billed.
//
// A call is admitted by reserving its worst case: one call; its prompt
// (estimated, see estimateTokens) plus its max tokens; their cost at
// GuardOptions.Price. When it ends, the reservation is replaced by what it
// used, in one step:
//   - an answer: the usage the provider reported; a count it left out (0)
//     is estimated from the text (prompt, answer) instead of counted as 0;
//   - no call made (a cloud.NotCalledError, or the connection never
//     opened: a dial or DNS error) and nothing streamed: nothing;
//   - an HTTP error answer (4xx, 5xx) and nothing streamed: one call and no
//     tokens (providers do not bill a request they refused or failed);
//   - any other failure (a stream cut or abandoned after text, a timeout
//     or cancellation while the provider may be generating, an answer that
//     could not be read): one call, the estimated prompt and the estimated
//     tokens of what was streamed, costed at GuardOptions.Price. It is
//     counted as billed because the provider may well have billed it.
type Guard struct {
	cloud.Provider
	b         *Budget
	price     cloud.Price
	maxTokens int
	log       *slog.Logger
}

var _ cloud.Provider = (*Guard)(nil)

// NewGuard wraps p with no prices (see NewGuardWith).
func NewGuard(p cloud.Provider, b *Budget, log *slog.Logger) *Guard {
	return NewGuardWith(p, b, GuardOptions{Log: log})
}

// NewGuardWith wraps p.
func NewGuardWith(p cloud.Provider, b *Budget, o GuardOptions) *Guard {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.DefaultMaxTokens <= 0 {
		o.DefaultMaxTokens = DefaultMaxTokens
	}
	return &Guard{Provider: p, b: b, price: o.Price, maxTokens: o.DefaultMaxTokens, log: o.Log}
}

// call is one admitted call.
type call struct {
	worst  Counts
	prompt int // estimated prompt tokens
}

// admit fixes the request's max tokens when a token or cost cap needs a
// bound, and reserves its worst case.
func (g *Guard) admit(req *cloud.Request) (*call, error) {
	l := g.b.limits
	c := &call{prompt: promptTokens(req.Messages)}
	if req.MaxTokens <= 0 && (l.TokensPerDay > 0 || l.TokensPerMonth > 0 || l.CostPerDay > 0 || l.CostPerMonth > 0) {
		req.MaxTokens = g.allowance(c.prompt)
	}
	c.worst = Counts{Calls: 1, Tokens: c.prompt + max(req.MaxTokens, 0)}
	c.worst.Cost = g.price.Cost(cloud.Usage{PromptTokens: c.prompt, CompletionTokens: max(req.MaxTokens, 0)})
	why, retry, overCap := g.b.reserve(c.worst)
	switch {
	case why == "":
		return c, nil
	case overCap:
		return nil, &cloud.NotCalledError{Err: cloud.ErrOverCap,
			Reason: fmt.Sprintf("%s (about %d prompt tokens + max tokens %d): lower max_tokens or raise the cap", why, c.prompt, req.MaxTokens)}
	default:
		return nil, &cloud.NotCalledError{Err: cloud.ErrBudget, Reason: why, RetryAfter: retry}
	}
}

// allowance is the max tokens of a request that set none under a token or
// cost cap: DefaultMaxTokens, or less when a cap could not hold the prompt
// and that many tokens (so that the request fits an unused period).
func (g *Guard) allowance(prompt int) int {
	l := g.b.limits
	n := g.maxTokens
	for _, c := range []int{l.TokensPerDay, l.TokensPerMonth} {
		if c > 0 {
			n = min(n, c-prompt)
		}
	}
	if out := g.price.OutputPer1K; out > 0 {
		promptCost := g.price.Cost(cloud.Usage{PromptTokens: prompt})
		for _, c := range []float64{l.CostPerDay, l.CostPerMonth} {
			if c > 0 {
				n = min(n, int((c-promptCost)*1000/out))
			}
		}
	}
	if n < 1 {
		return g.maxTokens // the prompt alone passes a cap: refused, naming it
	}
	return n
}

// done settles an admitted call (see Guard for what is counted).
func (g *Guard) done(c *call, resp *cloud.Response, err error, streamed int) {
	if serr := g.b.settle(c.worst, g.used(c, resp, err, streamed)); serr != nil {
		// The count is kept in memory. Say it loudly.
		g.log.Error("could not persist cloud use; the budget counts it in memory only", "err", serr)
	}
}

func (g *Guard) used(c *call, resp *cloud.Response, err error, streamed int) *Counts {
	if err == nil && resp != nil {
		u := resp.Usage
		estimated := false
		if u.PromptTokens <= 0 {
			u.PromptTokens, estimated = c.prompt, true
		}
		if u.CompletionTokens <= 0 && resp.Content != "" {
			u.CompletionTokens, estimated = estimateTokens(len(resp.Content)), true
		}
		cost := resp.Cost
		if estimated || cost == 0 {
			cost = max(cost, g.price.Cost(u))
		}
		return &Counts{Calls: 1, Tokens: u.PromptTokens + u.CompletionTokens, Cost: cost}
	}
	if streamed == 0 {
		var nc *cloud.NotCalledError
		if errors.As(err, &nc) || neverConnected(err) {
			return nil
		}
		var ce *cloud.Error
		if errors.As(err, &ce) && ce.Status >= 400 {
			return &Counts{Calls: 1}
		}
	}
	u := cloud.Usage{PromptTokens: c.prompt, CompletionTokens: estimateTokens(streamed)}
	return &Counts{Calls: 1, Tokens: u.PromptTokens + u.CompletionTokens, Cost: g.price.Cost(u)}
}

// neverConnected reports an error that shows the request never left: the
// connection could not be opened or the host not resolved.
func neverConnected(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return (errors.As(err, &op) && op.Op == "dial") || errors.As(err, &dns)
}

// estimateTokens over-estimates the tokens of n bytes of text when a
// provider reports none: one token per 3 bytes, rounded up (English text
// runs about 4 bytes a token; a CJK character is 3 bytes and about one
// token).
func estimateTokens(n int) int { return (n + 2) / 3 }

// promptTokens estimates a request's prompt: its messages' text and a few
// tokens of chat format per message.
func promptTokens(msgs []models.Message) int {
	n := 0
	for _, m := range msgs {
		n += estimateTokens(len(m.Content)) + 4
	}
	return n
}

// Complete implements cloud.Provider.
func (g *Guard) Complete(ctx context.Context, req cloud.Request) (*cloud.Response, error) {
	c, err := g.admit(&req)
	if err != nil {
		return nil, err
	}
	resp, err := g.Provider.Complete(ctx, req)
	g.done(c, resp, err, 0)
	return resp, err
}

// Stream implements cloud.Provider.
func (g *Guard) Stream(ctx context.Context, req cloud.Request, fn cloud.DeltaFunc) (*cloud.Response, error) {
	c, err := g.admit(&req)
	if err != nil {
		return nil, err
	}
	streamed := 0
	resp, err := g.Provider.Stream(ctx, req, func(d string) error {
		streamed += len(d)
		return fn(d)
	})
	g.done(c, resp, err, streamed)
	return resp, err
}
