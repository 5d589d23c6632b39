package cloud

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/edgecascade/edgecascade/models"
)

// Price is what a provider charges per 1,000 tokens, in the user's currency.
type Price struct {
	InputPer1K  float64
	OutputPer1K float64
}

// Cost of one answer's usage.
func (p Price) Cost(u Usage) float64 {
	return (float64(u.PromptTokens)*p.InputPer1K + float64(u.CompletionTokens)*p.OutputPer1K) / 1000
}

// Entry is one provider of a chain, with its price.
type Entry struct {
	Provider Provider
	Price    Price
}

// Chain tries its providers in order: when one fails (it cannot be reached,
// times out, rate-limits, errors), the next is asked. A stream moves on only
// while nothing has been streamed yet. The answer's Response names the
// provider that gave it and carries its cost.
type Chain struct {
	entries []Entry
}

var _ Provider = (*Chain)(nil)

// NewChain returns a chain of at least one provider.
func NewChain(entries ...Entry) (*Chain, error) {
	if len(entries) == 0 {
		return nil, errors.New("cloud: a chain needs at least one provider")
	}
	for i, e := range entries {
		if e.Provider == nil {
			return nil, fmt.Errorf("cloud: provider %d is nil", i)
		}
	}
	return &Chain{entries: entries}, nil
}

// Name lists the providers in order, e.g. "openai,anthropic".
func (c *Chain) Name() string {
	names := make([]string, len(c.entries))
	for i, e := range c.entries {
		names[i] = e.Provider.Name()
	}
	return strings.Join(names, ",")
}

// MaxPrice is the highest input and the highest output price among the
// chain's providers: what one call costs at worst, whichever answers (the
// budget reserves a call's cost at it).
func (c *Chain) MaxPrice() Price {
	var p Price
	for _, e := range c.entries {
		p.InputPer1K = max(p.InputPer1K, e.Price.InputPer1K)
		p.OutputPer1K = max(p.OutputPer1K, e.Price.OutputPer1K)
	}
	return p
}

// Model is the first provider's model.
func (c *Chain) Model() string { return c.entries[0].Provider.Model() }

// Complete asks each provider in turn until one answers.
func (c *Chain) Complete(ctx context.Context, req Request) (*Response, error) {
	var errs []error
	for _, e := range c.entries {
		resp, err := e.Provider.Complete(ctx, req)
		if err == nil {
			resp.Cost = e.Price.Cost(resp.Usage)
			return resp, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, c.failed(errs)
}

// Stream asks each provider in turn until one streams an answer; once text
// has been streamed, a failure is returned as it is.
func (c *Chain) Stream(ctx context.Context, req Request, fn DeltaFunc) (*Response, error) {
	if fn == nil { // as the providers: a nil fn takes the deltas and drops them
		fn = func(string) error { return nil }
	}
	var errs []error
	for _, e := range c.entries {
		streamed := false
		// A provider's tokens are held until its first text, so that those
		// of a provider that fails before any text are dropped with it.
		preq := req
		var held []models.TokenLogprob
		if req.LogprobsFunc != nil {
			preq.LogprobsFunc = func(toks []models.TokenLogprob) error {
				if !streamed {
					held = append(held, toks...)
					return nil
				}
				return req.LogprobsFunc(toks)
			}
		}
		resp, err := e.Provider.Stream(ctx, preq, func(delta string) error {
			if !streamed && len(held) > 0 {
				if err := req.LogprobsFunc(held); err != nil {
					return err
				}
				held = nil
			}
			streamed = true
			return fn(delta)
		})
		if err == nil {
			resp.Cost = e.Price.Cost(resp.Usage)
			return resp, nil
		}
		if streamed || ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, c.failed(errs)
}

// Ping succeeds when any provider answers.
func (c *Chain) Ping(ctx context.Context) error {
	var errs []error
	for _, e := range c.entries {
		err := e.Provider.Ping(ctx)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return c.failed(errs)
}

// failed is the last provider's error when there is one provider, else all
// of them joined (each names its provider).
func (c *Chain) failed(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return fmt.Errorf("all %d cloud providers failed: %w", len(errs), errors.Join(errs...))
}
