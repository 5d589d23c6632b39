package agent

import (
	"context"
	"fmt"

	"github.com/edgecascade/edgecascade/agent/resources"
)

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

// causeResources labels escalations a resource rule asked for.
const causeResources = "resource_rule"

// verdict evaluates the resource rules for an auto request (the zero
// verdict when there are none) and reports whether the cloud may be called.
func (c *Cascade) verdict(ctx context.Context) (resources.Verdict, bool) {
	online, _ := c.cloudAllowed()
	if c.opts.Resources == nil {
		return resources.Verdict{}, online
	}
	v := c.opts.Resources.Evaluate(ctx, online)
	if len(v.Fired) > 0 {
		c.log.Debug("resource rules fired", "rules", v.Fired, "action", v.Action)
	}
	return v, online
}

// cloudFirst reports whether the verdict sends the request to the cloud
// without a local attempt.
func cloudFirst(v resources.Verdict) bool {
	return v.Action == resources.ActionPreferCloud || v.Action == resources.ActionSkipLocal
}

// ruleDecision marks d as escalated by a resource rule.
func ruleDecision(d *Decision, v resources.Verdict) {
	d.Escalated = true
	d.Reason = v.Reason() + "; local generation skipped"
	d.cause = causeResources
}

// ruleCloudFailed is the fallback when the cloud failed for a request a
// rule sent there: skip_local has none (the request is deferred when it
// may be answered later); prefer_cloud answers locally.
func (c *Cascade) ruleCloudFailed(ctx context.Context, req Request, d *Decision, v resources.Verdict, err error) (fallBack bool, _ error) {
	if ctx.Err() != nil || StreamStarted(err) {
		return false, err
	}
	if v.Action == resources.ActionSkipLocal {
		return false, c.cloudFailed(ctx, req, *d, err)
	}
	c.log.Warn("cloud failed for a request a resource rule preferred it for; answering locally", "err", err)
	d.Escalated = false
	d.cause = ""
	d.Reason = fmt.Sprintf("%s; cloud failed (%v); answered locally", v.Reason(), err)
	return true, nil
}

// noteRules adds the rules that fired to a local decision's reason.
func noteRules(d *Decision, v resources.Verdict) {
	if r := v.Reason(); r != "" {
		d.Reason += "; " + r
	}
}

// cloudCall answers from the cloud, complete or streamed.
type cloudCall func(ctx context.Context, req Request, d Decision) (*Result, error)

// plan is what auto mode decided before the local answer: the resource
// rules' verdict, whether the cloud may be called, and, when a rule sent
// the request to the cloud and the cloud failed, the reason so far.
type plan struct {
	v      resources.Verdict
	online bool
	reason string
}

// beforeLocal applies the resource rules and the preflight checks (context
// length, pre-generation probe). It returns no plan when the request is
// settled without the local model (answered by the cloud via direct, or
// via auto when no local answer can follow, or failed).
func (c *Cascade) beforeLocal(ctx context.Context, r *Routing, policy Policy, req Request, d *Decision, direct, auto cloudCall) (*plan, *Result, error) {
	p := &plan{online: true}
	if policy == PolicyAuto {
		p.v, p.online = c.verdict(ctx)
	}
	switch {
	case cloudFirst(p.v):
		ruleDecision(d, p.v)
		res, err := direct(ctx, req, *d)
		if err == nil {
			return nil, res, nil
		}
		if fallBack, err := c.ruleCloudFailed(ctx, req, d, p.v, err); !fallBack {
			return nil, nil, err
		}
	case p.v.Action != resources.ActionForceLocal:
		skip, err := c.preflight(ctx, r, policy, req, d)
		if err != nil {
			return nil, nil, err
		}
		if skip {
			res, err := auto(ctx, req, *d)
			return nil, res, err
		}
	}
	p.reason = d.Reason
	return p, nil, nil
}

// settle reports whether a scored local answer is the answer under the
// plan, and says why in its reason: the cloud a rule preferred already
// failed, the score cleared the threshold, or force_local holds.
func (p *plan) settle(local *Result, d *Decision, accepted bool) bool {
	switch {
	case cloudFirst(p.v): // the cloud already failed
		local.Decision.Reason = p.reason + "; " + d.Reason
		return true
	case accepted:
		noteRules(&local.Decision, p.v)
		return true
	case p.v.Action == resources.ActionForceLocal && p.online:
		local.Decision.Reason = d.Reason + "; " + p.v.Reason() + ": not escalated"
		return true
	}
	return false
}
