package cascade

import (
	"context"

	"github.com/edgecascade/edgecascade/agent/resources"
	"github.com/edgecascade/edgecascade/cloud"
)

// What the cascade asks of the rest of the daemon; each is optional in
// Options.

// Deferrer keeps escalations that cannot be made now, to send them to the
// cloud later (agent/outbox.Deferrals implements it).
type Deferrer interface {
	// Defer stores the request durably with the local answer the client
	// got (empty when it got none) and returns the item's ID.
	Defer(ctx context.Context, req Request, localAnswer, reason string) (string, error)
}

// Gate says whether the cloud may be called now (the reachability tracker,
// the budget).
type Gate interface {
	Allow() (bool, string)
}

// Gates allow when each of them does.
type Gates []Gate

// Allow implements Gate.
func (g Gates) Allow() (bool, string) {
	for _, x := range g {
		if ok, why := x.Allow(); !ok {
			return false, why
		}
	}
	return true, ""
}

// ResourcePolicy says what the machine's power and heat ask of routing
// (agent/resources.Policy implements it).
type ResourcePolicy interface {
	// Evaluate applies the rules; online is whether the cloud may be called.
	Evaluate(ctx context.Context, online bool) resources.Verdict
}

// EnergyMeter measures the machine's energy while fn runs
// (agent/resources.Meter implements it); ok is false where no counter can
// be read.
type EnergyMeter interface {
	Measure(ctx context.Context, fn func() error) (joules float64, ok bool, err error)
}

// Thresholds supplies the threshold and probability map for a request's
// group in place of the routing's (the online threshold, uq/adapt). prob
// nil keeps the routing's map.
type Thresholds interface {
	Threshold(group string) (threshold float64, prob func(float64) float64)
}

// Labeller is told of every answer after its decision (agent/learn): it
// may label the result (Result.Label) and work in the background.
type Labeller interface {
	Decided(ctx context.Context, d Decided)
}

// Decided is an answered request as the Labeller sees it.
type Decided struct {
	Policy  Policy
	Request Request
	// CloudRequest is the request as the cloud would get it (confidence
	// tokens stripped).
	CloudRequest cloud.Request
	Result       *Result
}

// cloudAllowed asks the gate, when there is one.
func (c *Cascade) cloudAllowed() (bool, string) {
	if c.opts.Gate == nil {
		return true, ""
	}
	return c.opts.Gate.Allow()
}
