package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/edgecascade/edgecascade/cloud"
)

// Deferrer keeps escalations that cannot be made now, to send them to the
// cloud later (agent/outbox through Deferrals).
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

// DeferredError is a request that could not be answered now, neither by the
// local model nor by the cloud, and was deferred: its cloud answer will be
// at /v1/cascade/deferred/{ID}.
type DeferredError struct {
	ID  string
	Err error
}

func (e *DeferredError) Error() string {
	return fmt.Sprintf("%v; the request is deferred as %s: its answer will be at /v1/cascade/deferred/%s", e.Err, e.ID, e.ID)
}

func (e *DeferredError) Unwrap() error { return e.Err }

// deferrable reports whether a failed cloud call may be tried again later:
// the cloud was out of reach, failed on its side, or the budget is spent.
func deferrable(err error) bool {
	return errors.Is(err, cloud.ErrUnavailable) || errors.Is(err, cloud.ErrBudget)
}

// cloudAllowed asks the gate, when there is one.
func (c *Cascade) cloudAllowed() (bool, string) {
	if c.opts.Gate == nil {
		return true, ""
	}
	return c.opts.Gate.Allow()
}

// escalationFailed turns a local answer whose escalation failed into the
// answer, and defers the escalation when the cloud may answer later.
func (c *Cascade) escalationFailed(ctx context.Context, req Request, local *Result, d Decision, err error) *Result {
	var nc *cloud.NotCalledError
	if errors.As(err, &nc) {
		local.Decision.Reason = fmt.Sprintf("%s; cloud not called: %s; answered locally", d.Reason, nc.Reason)
	} else {
		c.log.Warn("escalation failed, answering locally", "err", err)
		local.Decision.Reason = fmt.Sprintf("%s; escalation failed (%v); answered locally", d.Reason, err)
	}
	// The cascade did decide to escalate; the answer is local because the
	// cloud could not give one.
	local.Decision.Escalated = true
	local.EscalationFailed = true
	if deferrable(err) {
		c.deferLocal(ctx, req, local)
	}
	return local
}

// deferLocal stores the escalation of an answered request in the outbox.
func (c *Cascade) deferLocal(ctx context.Context, req Request, res *Result) {
	switch {
	case c.opts.Deferrer == nil:
		return
	case req.NoDefer:
		res.Decision.Reason += "; not deferred (deferral off for this request)"
		return
	}
	// The client may be gone by now; the item must still be stored.
	id, err := c.opts.Deferrer.Defer(context.WithoutCancel(ctx), c.deferredRequest(req), res.Content, res.Decision.Reason)
	if err != nil {
		c.log.Error("could not defer the escalation", "err", err)
		res.Decision.Reason += fmt.Sprintf("; could not defer it (%v)", err)
		return
	}
	res.Decision.Deferred, res.Decision.DeferredID = true, id
	res.Decision.Reason += "; deferred as " + id
}

// cloudFailed handles a failed cloud answer in auto mode when there is no
// local answer to give (the local model is down, or the prompt does not fit
// it): the request is deferred when the cloud may answer later.
func (c *Cascade) cloudFailed(ctx context.Context, req Request, d Decision, err error) error {
	if ctx.Err() != nil || !deferrable(err) || c.opts.Deferrer == nil || req.NoDefer {
		return err
	}
	id, derr := c.opts.Deferrer.Defer(context.WithoutCancel(ctx), c.deferredRequest(req), "", fmt.Sprintf("%s; %v", d.Reason, err))
	if derr != nil {
		c.log.Error("could not defer the request", "err", derr)
		return err
	}
	return &DeferredError{ID: id, Err: err}
}

// deferredRequest is what the outbox keeps: the request as the cloud will
// get it, without confidence tokens.
func (c *Cascade) deferredRequest(req Request) Request {
	cr := c.cloudRequest(req)
	return Request{Messages: cr.Messages, MaxTokens: cr.MaxTokens, Temperature: cr.Temperature}
}

// noDefer reads the per-request deferral switch: the header
// X-Cascade-Defer (false/0/off/no) or the body's cascade.defer: false.
func noDefer(h http.Header, body *bool) (bool, error) {
	if v := h.Get("X-Cascade-Defer"); v != "" {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "false", "0", "off", "no":
			return true, nil
		case "true", "1", "on", "yes":
			return false, nil
		default:
			return false, &BadRequestError{Msg: fmt.Sprintf("header X-Cascade-Defer must be true or false, got %q", v), Param: "X-Cascade-Defer"}
		}
	}
	return body != nil && !*body, nil
}
