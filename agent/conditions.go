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
