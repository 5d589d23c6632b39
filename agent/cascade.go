// Package agent is the cascade: it answers with the local model, scores the
// answer, escalates to the cloud when the confidence is below the threshold,
// and serves all of it on an OpenAI-compatible HTTP API.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/uq"
)

// Policy is what a request's `model` field asks for.
type Policy string

// The policies.
const (
	PolicyAuto  Policy = "auto"  // cascade: local first, cloud when not confident
	PolicyLocal Policy = "local" // never leaves the device
	PolicyCloud Policy = "cloud" // cloud only
)

// Policies lists the policies in the order /v1/models shows them.
var Policies = []Policy{PolicyAuto, PolicyLocal, PolicyCloud}

// ParsePolicy maps a request's model name to a policy.
func ParsePolicy(s string) (Policy, error) {
	for _, p := range Policies {
		if s == string(p) {
			return p, nil
		}
	}
	return "", &UnknownModelError{Model: s}
}

// Routes.
const (
	RouteLocal = "local"
	RouteCloud = "cloud"
)

// Decision is the routing decision that rides on every response as `cascade`.
type Decision struct {
	Route string `json:"route"`
	// Confidence is the probability that the local answer is right: the
	// calibrated map of the score when a calibration is loaded, else the raw
	// score. Null when the local model was not asked (policy cloud).
	Confidence *float64 `json:"confidence"`
	// Score is the raw scorer output that the threshold applies to.
	Score      *float64 `json:"score,omitempty"`
	Threshold  float64  `json:"threshold"`
	Scorer     string   `json:"scorer"`
	LocalModel string   `json:"local_model"`
	CloudModel string   `json:"cloud_model"`
	// CloudProvider names the provider that answered (route cloud).
	CloudProvider string `json:"cloud_provider,omitempty"`
	Escalated     bool   `json:"escalated"`
	Reason        string `json:"reason"`
	// Deferred is set when the answer should have come from the cloud but
	// the cloud was out of reach (or its budget spent): the local answer is
	// returned and the escalation waits in the outbox as DeferredID.
	Deferred   bool   `json:"deferred"`
	DeferredID string `json:"deferred_id,omitempty"`
	// cause is a fixed label for metrics: why the request escalated (or
	// why escalation failed).
	cause string
}

// Escalation causes, the label values of the escalation metrics.
const (
	causeLowConfidence    = "low_confidence"
	causeUnscorable       = "unscorable"
	causeLocalUnavailable = "local_unavailable"
	causeLocalBusy        = "local_busy"
	causeContextLength    = "context_length"
	causePregenProbe      = "pregen_probe"
)

// Usage counts the tokens of the answer that was returned.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	// Estimated is set when the cloud reported no usage and the counts are
	// the local tokenizer's estimate.
	Estimated bool
}

// Result is a complete answer with its decision.
type Result struct {
	Content      string
	FinishReason string
	Decision     Decision
	Usage        Usage
	LocalLatency time.Duration
	CloudLatency time.Duration
	// Cost is the cloud answer's price (from configured per-1K prices).
	Cost float64
	// EscalationFailed is set when the answer should have come from the
	// cloud but the cloud failed, so the local answer was returned.
	EscalationFailed bool
	// LocalEnergy is the machine's energy in joules during the local
	// generation, where a counter can be read (RAPL, Jetson power rails).
	LocalEnergy *float64
}

// Request is a chat request to the cascade.
type Request struct {
	Messages    []models.Message
	MaxTokens   int
	Temperature *float64
	// NoDefer turns deferral off for this request: when the cloud is out of
	// reach the local answer is returned and nothing is kept.
	NoDefer bool
}

// Routing is the part of the configuration that a reload may replace.
type Routing struct {
	Scorer    uq.Scorer
	Threshold float64
	// Probability maps a raw score to a calibrated probability; nil means
	// the raw score is reported as the confidence.
	Probability func(score float64) float64
	// Source names where the threshold came from (a calibration file), or
	// is empty for the configured threshold.
	Source string
	// Pregen, when set, may skip local generation in auto mode.
	Pregen *Pregen
}

// Options are the cascade's fixed settings.
type Options struct {
	// TopLogprobs is how many alternatives the local model returns per token
	// for scoring.
	TopLogprobs int
	// StripTokens are removed from local answers (content and streams) and
	// from every message sent to the cloud: Self-REF confidence tokens.
	StripTokens []string
	// Context, when its Counter is set, routes prompts that cannot fit the
	// local context to the cloud.
	Context ContextCheck
	// Gate, when set, says whether the cloud may be called now; a closed
	// gate keeps the pre-generation probe from skipping the local model.
	Gate Gate
	// Deferrer, when set, keeps escalations that could not be made (cloud
	// out of reach, budget spent) for later, in auto mode.
	Deferrer Deferrer
	// Resources, when set, applies power and heat rules in auto mode:
	// prefer_cloud and skip_local send requests to the cloud without a
	// local attempt, force_local never escalates.
	Resources ResourcePolicy
	// Energy, when set, measures the energy of each local generation.
	Energy EnergyMeter
	Log    *slog.Logger
}

// Cascade routes requests between a local model and a cloud provider.
type Cascade struct {
	local   models.Model
	cloud   cloud.Provider
	routing atomic.Pointer[Routing]
	opts    Options
	strip   uq.Stripper
	log     *slog.Logger
}

// New returns a cascade.
func New(local models.Model, provider cloud.Provider, routing Routing, opts Options) (*Cascade, error) {
	if local == nil || provider == nil || routing.Scorer == nil {
		return nil, errors.New("agent: local model, cloud provider and scorer are required")
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cascade{local: local, cloud: provider, opts: opts, strip: uq.NewStripper(opts.StripTokens...), log: log}
	c.routing.Store(&routing)
	return c, nil
}

// SetRouting replaces the scorer, threshold and probability map (on reload).
func (c *Cascade) SetRouting(r Routing) { c.routing.Store(&r) }

// Routing returns the routing in force.
func (c *Cascade) Routing() Routing { return *c.routing.Load() }

// Local returns the local model.
func (c *Cascade) Local() models.Model { return c.local }

// Cloud returns the cloud provider.
func (c *Cascade) Cloud() cloud.Provider { return c.cloud }

func (c *Cascade) baseDecision(r *Routing) Decision {
	return Decision{Threshold: r.Threshold, Scorer: r.Scorer.Name(), LocalModel: c.local.Name(), CloudModel: c.cloud.Model()}
}

func (c *Cascade) localRequest(req Request) models.Request {
	return models.Request{Messages: req.Messages, MaxTokens: req.MaxTokens, Temperature: req.Temperature, TopLogprobs: c.opts.TopLogprobs}
}

// cloudRequest is the original conversation, without confidence tokens.
func (c *Cascade) cloudRequest(req Request) cloud.Request {
	return cloud.Request{Messages: c.strip.StripMessages(req.Messages), MaxTokens: req.MaxTokens, Temperature: req.Temperature}
}

// score fills the decision's score and confidence from a local answer and
// reports whether the answer is accepted.
func (c *Cascade) score(ctx context.Context, r *Routing, d *Decision, req Request, resp *models.Response) bool {
	res, err := r.Scorer.Score(ctx, uq.Input{Messages: req.Messages, Answer: resp.Content, Tokens: resp.Tokens})
	if err != nil {
		zero := 0.0
		d.Score, d.Confidence = &zero, &zero
		d.Reason = fmt.Sprintf("could not score the local answer (%v)", err)
		d.cause = causeUnscorable
		return false
	}
	defer func() {
		if res.Note != "" {
			d.Reason += "; " + res.Note
		}
	}()
	s := res.Score
	conf := s
	if r.Probability != nil {
		conf = r.Probability(s)
	}
	d.Score, d.Confidence = &s, &conf
	if s >= r.Threshold {
		d.Reason = fmt.Sprintf("%s score %.3f >= threshold %.3f", r.Scorer.Name(), s, r.Threshold)
		return true
	}
	d.Reason = fmt.Sprintf("%s score %.3f < threshold %.3f", r.Scorer.Name(), s, r.Threshold)
	d.cause = causeLowConfidence
	return false
}

// Answer returns a complete answer under the policy.
func (c *Cascade) Answer(ctx context.Context, policy Policy, req Request) (*Result, error) {
	r := c.routing.Load()
	d := c.baseDecision(r)
	switch policy {
	case PolicyCloud:
		d.Reason = "policy cloud"
		return c.answerCloud(ctx, req, d)
	case PolicyLocal, PolicyAuto:
	default:
		return nil, &UnknownModelError{Model: string(policy)}
	}
	p, res, err := c.beforeLocal(ctx, r, policy, req, &d, c.answerCloud, c.answerCloudAuto)
	if p == nil {
		return res, err
	}

	local, accepted, err := c.localAnswer(ctx, r, policy, req, &d)
	if err != nil {
		return nil, err
	}
	if local == nil {
		return c.answerCloudAuto(ctx, req, d)
	}
	localLatency := local.LocalLatency
	if policy == PolicyLocal {
		local.Decision.Reason = "policy local; " + d.Reason
		return local, nil
	}
	if p.settle(local, &d, accepted) {
		return local, nil
	}

	d.Escalated = true
	res, err = c.answerCloud(ctx, req, d)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		local = c.escalationFailed(ctx, req, local, d, err)
		noteRules(&local.Decision, p.v)
		return local, nil
	}
	res.LocalLatency, res.LocalEnergy = localLatency, local.LocalEnergy
	return res, nil
}

// answerCloudAuto is the cloud answer when auto mode has no local answer to
// fall back on; it defers the request when the cloud may answer later.
func (c *Cascade) answerCloudAuto(ctx context.Context, req Request, d Decision) (*Result, error) {
	res, err := c.answerCloud(ctx, req, d)
	if err != nil {
		return nil, c.cloudFailed(ctx, req, d, err)
	}
	return res, nil
}

func (c *Cascade) answerCloud(ctx context.Context, req Request, d Decision) (*Result, error) {
	start := time.Now()
	resp, err := c.cloud.Complete(ctx, c.cloudRequest(req))
	if err != nil {
		return nil, fmt.Errorf("cloud answer: %w", err)
	}
	d.Route = RouteCloud
	return c.cloudResult(ctx, req, d, resp, start), nil
}

// cloudResult is the result of a cloud answer: the decision names the
// provider and model that answered.
func (c *Cascade) cloudResult(ctx context.Context, req Request, d Decision, resp *cloud.Response, start time.Time) *Result {
	d.CloudProvider = resp.Provider
	if resp.Model != "" {
		d.CloudModel = resp.Model
	}
	return &Result{
		Content: resp.Content, FinishReason: resp.FinishReason, Decision: d, CloudLatency: time.Since(start),
		Usage: c.cloudUsage(ctx, req, resp), Cost: resp.Cost,
	}
}

func isUnavailable(err error) bool {
	return errors.Is(err, models.ErrUnavailable) || errors.Is(err, models.ErrModelNotFound)
}

// Emitter receives a streamed answer: Begin once with the decision before
// any text, then Delta for each piece of text.
type Emitter interface {
	Begin(d Decision) error
	Delta(text string) error
}

// Stream answers under the policy, streaming to e. In auto mode the decision
// is made before anything is streamed (the local answer is generated and
// scored first); policies local and cloud stream as the model generates, and
// for local the score arrives in the returned Result only.
func (c *Cascade) Stream(ctx context.Context, policy Policy, req Request, e Emitter) (*Result, error) {
	r := c.routing.Load()
	d := c.baseDecision(r)
	switch policy {
	case PolicyCloud:
		d.Reason = "policy cloud"
		return c.streamCloud(ctx, req, d, e)
	case PolicyLocal, PolicyAuto:
	default:
		return nil, &UnknownModelError{Model: string(policy)}
	}
	if policy == PolicyLocal {
		// Under policy local the preflight never skips: a prompt that does
		// not fit is an error.
		if _, err := c.preflight(ctx, r, policy, req, &d); err != nil {
			return nil, err
		}
		return c.streamLocal(ctx, r, req, d, e)
	}
	direct := func(ctx context.Context, req Request, d Decision) (*Result, error) {
		return c.streamCloud(ctx, req, d, e)
	}
	auto := func(ctx context.Context, req Request, d Decision) (*Result, error) {
		return c.streamCloudAuto(ctx, req, d, e)
	}
	p, res, err := c.beforeLocal(ctx, r, policy, req, &d, direct, auto)
	if p == nil {
		return res, err
	}

	local, accepted, err := c.localAnswer(ctx, r, policy, req, &d)
	if err != nil {
		return nil, err
	}
	if local == nil {
		return auto(ctx, req, d)
	}
	localLatency := local.LocalLatency
	accepted = p.settle(local, &d, accepted)
	if !accepted {
		d.Escalated = true
		res, err := c.streamCloud(ctx, req, d, e)
		if err == nil {
			res.LocalLatency, res.LocalEnergy = localLatency, local.LocalEnergy
			return res, nil
		}
		var se *streamStartedError
		if errors.As(err, &se) || ctx.Err() != nil {
			return nil, err
		}
		local = c.escalationFailed(ctx, req, local, d, err)
		noteRules(&local.Decision, p.v)
	}
	if err := e.Begin(local.Decision); err != nil {
		return nil, err
	}
	if local.Content != "" {
		if err := e.Delta(local.Content); err != nil {
			return nil, err
		}
	}
	return local, nil
}

// streamStartedError marks a failure after text was already streamed, when
// no fallback is possible any more.
type streamStartedError struct{ err error }

func (e *streamStartedError) Error() string { return e.err.Error() }
func (e *streamStartedError) Unwrap() error { return e.err }

// StreamStarted reports whether err happened after the stream had begun, so
// the HTTP layer must report it inside the stream.
func StreamStarted(err error) bool {
	var se *streamStartedError
	return errors.As(err, &se)
}

// streamCloudAuto is streamCloud when auto mode has no local answer to fall
// back on; it defers the request when the cloud may answer later.
func (c *Cascade) streamCloudAuto(ctx context.Context, req Request, d Decision, e Emitter) (*Result, error) {
	res, err := c.streamCloud(ctx, req, d, e)
	if err != nil && !StreamStarted(err) {
		return nil, c.cloudFailed(ctx, req, d, err)
	}
	return res, err
}

func (c *Cascade) streamCloud(ctx context.Context, req Request, d Decision, e Emitter) (*Result, error) {
	d.Route = RouteCloud
	began := false
	start := time.Now()
	resp, err := c.cloud.Stream(ctx, c.cloudRequest(req), func(delta string) error {
		if !began {
			began = true
			if err := e.Begin(d); err != nil {
				return err
			}
		}
		return e.Delta(delta)
	})
	if err != nil {
		err = fmt.Errorf("cloud answer: %w", err)
		if began {
			return nil, &streamStartedError{err}
		}
		return nil, err
	}
	if !began {
		if err := e.Begin(d); err != nil {
			return nil, err
		}
	}
	return c.cloudResult(ctx, req, d, resp, start), nil
}

func (c *Cascade) streamLocal(ctx context.Context, r *Routing, req Request, d Decision, e Emitter) (*Result, error) {
	d.Route = RouteLocal
	d.Reason = "policy local"
	began := false
	ss := c.strip.Stream()
	start := time.Now()
	resp, err := c.local.ChatStream(ctx, c.localRequest(req), func(ch models.Chunk) error {
		if !began {
			began = true
			if err := e.Begin(d); err != nil {
				return err
			}
		}
		if text := ss.Write(ch.Content); text != "" {
			return e.Delta(text)
		}
		return nil
	})
	if err == nil {
		if rest := ss.Flush(); rest != "" {
			err = e.Delta(rest)
		}
	}
	if err != nil {
		err = fmt.Errorf("local answer: %w", err)
		if began {
			return nil, &streamStartedError{err}
		}
		return nil, err
	}
	if !began {
		if err := e.Begin(d); err != nil {
			return nil, err
		}
	}
	c.score(ctx, r, &d, req, resp)
	d.Reason = "policy local; " + d.Reason
	return c.localResult(resp, d, time.Since(start)), nil
}

// localAnswer generates and scores the local answer. It returns the local
// result and whether its score clears the threshold; or, when the local model
// is unavailable under policy auto, no result and d updated for the cloud.
func (c *Cascade) localAnswer(ctx context.Context, r *Routing, policy Policy, req Request, d *Decision) (*Result, bool, error) {
	start := time.Now()
	var resp *models.Response
	joules, measured, err := c.measure(ctx, func() error {
		var err error
		resp, err = c.local.Chat(ctx, c.localRequest(req))
		return err
	})
	latency := time.Since(start)
	if err != nil {
		if policy == PolicyLocal || ctx.Err() != nil || !isUnavailable(err) {
			return nil, false, fmt.Errorf("local answer: %w", err)
		}
		c.log.Warn("local model unavailable, answering from the cloud", "err", err)
		d.Escalated = true
		d.Reason = fmt.Sprintf("local model unavailable (%v); answered by the cloud", err)
		d.cause = causeLocalUnavailable
		if errors.Is(err, ErrLocalBusy) {
			d.cause = causeLocalBusy
		}
		return nil, false, nil
	}
	accepted := c.score(ctx, r, d, req, resp)
	local := c.localResult(resp, *d, latency)
	local.Decision.Route = RouteLocal
	if measured {
		local.LocalEnergy = &joules
	}
	return local, accepted, nil
}

// measure runs a local generation under the energy meter, when there is one.
func (c *Cascade) measure(ctx context.Context, fn func() error) (float64, bool, error) {
	if c.opts.Energy == nil {
		return 0, false, fn()
	}
	return c.opts.Energy.Measure(ctx, fn)
}

// localResult is the result of a local answer, confidence tokens stripped.
func (c *Cascade) localResult(resp *models.Response, d Decision, latency time.Duration) *Result {
	return &Result{
		Content: c.strip.Strip(resp.Content), FinishReason: resp.FinishReason, Decision: d, LocalLatency: latency,
		Usage: Usage{PromptTokens: resp.PromptTokens, CompletionTokens: resp.CompletionTokens},
	}
}

// cloudUsage is the cloud's own token counts or, when it reported none, an
// estimate with the local token counter (for cost accounting).
func (c *Cascade) cloudUsage(ctx context.Context, req Request, resp *cloud.Response) Usage {
	u := Usage{PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens}
	if u.PromptTokens > 0 || c.opts.Context.Counter == nil {
		return u
	}
	p, err1 := c.promptTokens(ctx, req)
	a, err2 := c.opts.Context.Counter.Count(resp.Content)
	if err1 != nil || err2 != nil {
		return u
	}
	return Usage{PromptTokens: p, CompletionTokens: a, Estimated: true}
}
