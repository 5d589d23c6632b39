package budget

import (
	"context"
	"log/slog"

	"github.com/edgecascade/edgecascade/cloud"
)

// Guard is a cloud.Provider that refuses at once, with cloud.ErrBudget, when
// a cap is reached, and records the use of every answered call.
type Guard struct {
	cloud.Provider
	b   *Budget
	log *slog.Logger
}

var _ cloud.Provider = (*Guard)(nil)

// NewGuard wraps p.
func NewGuard(p cloud.Provider, b *Budget, log *slog.Logger) *Guard {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Guard{Provider: p, b: b, log: log}
}

func (g *Guard) admit() error {
	if why, retry := g.b.admit(); why != "" {
		return &cloud.NotCalledError{Err: cloud.ErrBudget, Reason: why, RetryAfter: retry}
	}
	return nil
}

func (g *Guard) done(ctx context.Context, resp *cloud.Response, err error) {
	var used *Counts
	if err == nil && resp != nil {
		used = &Counts{Calls: 1, Tokens: resp.Usage.PromptTokens + resp.Usage.CompletionTokens, Cost: resp.Cost}
	}
	if rerr := g.b.release(ctx, used); rerr != nil {
		// The answer is good; the count is kept in memory. Say it loudly.
		g.log.Error("could not persist cloud use; the budget counts it in memory only", "err", rerr)
	}
}

// Complete implements cloud.Provider.
func (g *Guard) Complete(ctx context.Context, req cloud.Request) (*cloud.Response, error) {
	if err := g.admit(); err != nil {
		return nil, err
	}
	resp, err := g.Provider.Complete(ctx, req)
	g.done(ctx, resp, err)
	return resp, err
}

// Stream implements cloud.Provider.
func (g *Guard) Stream(ctx context.Context, req cloud.Request, fn cloud.DeltaFunc) (*cloud.Response, error) {
	if err := g.admit(); err != nil {
		return nil, err
	}
	resp, err := g.Provider.Stream(ctx, req, fn)
	g.done(ctx, resp, err)
	return resp, err
}
