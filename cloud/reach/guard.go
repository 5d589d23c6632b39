package reach

import (
	"context"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
)

// Guard is a cloud.Provider that refuses at once, with cloud.ErrOffline,
// while the tracker says the cloud is out of reach, and reports the outcome
// of every call it lets through to the tracker.
type Guard struct {
	cloud.Provider
	t *Tracker
}

var _ cloud.Provider = (*Guard)(nil)

// NewGuard wraps p.
func NewGuard(p cloud.Provider, t *Tracker) *Guard { return &Guard{Provider: p, t: t} }

func (g *Guard) check() error {
	if ok, why := g.t.Allow(); !ok {
		e := &cloud.NotCalledError{Err: cloud.ErrOffline, Reason: why}
		if st := g.t.Status(); st.NextProbe != nil {
			e.RetryAfter = max(time.Until(*st.NextProbe), time.Second)
		}
		return e
	}
	return nil
}

func (g *Guard) report(ctx context.Context, err error) {
	if err != nil && ctx.Err() != nil {
		return // the caller gave up; says nothing about the cloud
	}
	if err != nil {
		g.t.Failure(err)
		return
	}
	g.t.Success()
}

// Complete implements cloud.Provider.
func (g *Guard) Complete(ctx context.Context, req cloud.Request) (*cloud.Response, error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	resp, err := g.Provider.Complete(ctx, req)
	g.report(ctx, err)
	return resp, err
}

// Stream implements cloud.Provider.
func (g *Guard) Stream(ctx context.Context, req cloud.Request, fn cloud.DeltaFunc) (*cloud.Response, error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	resp, err := g.Provider.Stream(ctx, req, fn)
	g.report(ctx, err)
	return resp, err
}

// Ping implements cloud.Provider; offline, it does not leave the device.
func (g *Guard) Ping(ctx context.Context) error {
	if st := g.t.Status(); st.State == StateOffline {
		return &cloud.NotCalledError{Err: cloud.ErrOffline, Reason: "offline mode is on"}
	}
	err := g.Provider.Ping(ctx)
	g.report(ctx, err)
	return err
}
