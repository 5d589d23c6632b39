// Package cascade is the routing core: it answers with the local model,
// scores the answer, and escalates to the cloud when the confidence is below
// the threshold. Where one request is decided reads top to bottom in
// decide.go. The package knows nothing of HTTP (agent/httpapi serves it).
package cascade

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
	// ID is the response's id (Request.ID): what feedback names.
	ID    string `json:"id,omitempty"`
	Route string `json:"route"`
	// Group is the request's group key (Request.Group), empty for none.
	Group string `json:"group,omitempty"`
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
	// Stage is the index of the stage that answered among the cascade's
	// stages: the local stages in order, then the cloud (with the two-stage
	// shorthand 0 is local, 1 the cloud).
	Stage int `json:"stage"`
	// Stages lists every stage tried, in order, with its score and latency.
	Stages []StageTry `json:"stages,omitempty"`
	// cloud is set when the cloud stage answered.
	cloud bool
	// causes say why, in order; Reason is their rendering (causes.go).
	causes []Cause
}

// StageTry is one stage a request tried: its name, the score of its answer
// (none for the cloud, or when it gave no answer), how long it took, and,
// when it gave no answer, why it was skipped.
type StageTry struct {
	Name      string   `json:"name"`
	Score     *float64 `json:"score,omitempty"`
	LatencyMS float64  `json:"latency_ms"`
	// EnergyJ is the machine's energy in joules during the stage's
	// generation, where a counter can be read.
	EnergyJ *float64 `json:"energy_j,omitempty"`
	Skipped string   `json:"skipped,omitempty"`
	// latency is LatencyMS to the nanosecond (the sum of the stages').
	latency time.Duration
}

// FromCloud reports whether the cloud stage answered.
func (d Decision) FromCloud() bool { return d.cloud || d.Route == RouteCloud }

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
	// Logprobs are the returned answer's token log probabilities: the
	// local model's (with the alternatives the daemon asked for scoring,
	// Options.TopLogprobs), or the provider's when the request asked for
	// them and it sent them; nil otherwise.
	Logprobs []models.TokenLogprob
	// ToolCalls are the tools the answering model called (FinishReason
	// "tool_calls").
	ToolCalls []models.ToolCall
	// LocalContent is the local answer the cloud's replaced (an
	// escalation the cloud answered); the Labeller compares the two.
	LocalContent string
	// Label, when the Labeller set one, says whether the local answer was
	// right (kept with the decision in the decision log).
	Label *Label
}

// Label says whether a local answer was right, and who said so.
type Label struct {
	Correct bool
	// Source is agreement, exploration or feedback.
	Source string
	// Weight is the label's inverse-propensity weight.
	Weight float64
}

// Request is a chat request to the cascade.
type Request struct {
	// ID names the response (the HTTP API makes one per request); it rides
	// on the decision and in the decision log, and labels name it.
	ID string
	// Group is the request's group key (X-Cascade-Group): adaptation keeps
	// a threshold per group with enough labels.
	Group       string
	Messages    []models.Message
	MaxTokens   int
	Temperature *float64
	// Options are the client's other generation options, passed to
	// whichever model answers.
	models.Options
	// Logprobs asks for the answer's token log probabilities with
	// TopLogprobs alternatives per position (Result.Logprobs).
	Logprobs    bool
	TopLogprobs int
	// NoDefer turns deferral off for this request: when the cloud is out of
	// reach the local answer is returned and nothing is kept.
	NoDefer bool
	// Completion, when set, is a text completion (raw prompt or
	// fill-in-the-middle) that only the local model can give: the cloud
	// providers take chats only. Under auto it is answered locally and
	// scored, with the reason; under cloud it is refused (CompletionError).
	// Messages hold the prompt as a user message, for the scorers.
	Completion *models.Completion
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
	// Stages are the routings of the local stages after the first
	// (Options.Stages), one each, in order: each stage has its own scorer,
	// threshold and probability map.
	Stages []Routing
}

// Stage is a local stage after the first (cascade.stages): its name and
// its model. A request that the stage before does not accept is answered
// and scored by it before the cloud is asked.
type Stage struct {
	Name  string
	Model models.Model
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
	// LocalName and CloudName name the first local stage and the cloud
	// stage (the route of their answers); empty: "local" and "cloud".
	LocalName, CloudName string
	// Stages are the local stages after the first, in order; their
	// routings are Routing.Stages.
	Stages []Stage
	// Thresholds, when set, supplies the threshold per request group
	// (adaptation); Labeller is told of every answer after its decision.
	Thresholds Thresholds
	Labeller   Labeller
	Log        *slog.Logger
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
		return nil, errors.New("cascade: local model, cloud provider and scorer are required")
	}
	if err := checkStages(opts.Stages, routing); err != nil {
		return nil, err
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cascade{local: local, cloud: provider, opts: opts, strip: uq.NewStripper(opts.StripTokens...), log: log}
	c.routing.Store(&routing)
	return c, nil
}

// adapted is the routing with the threshold and map for group, when
// adaptation supplies them.
func (c *Cascade) adapted(r *Routing, group string) *Routing {
	if c.opts.Thresholds == nil {
		return r
	}
	a := *r
	t, prob := c.opts.Thresholds.Threshold(group)
	a.Threshold = t
	if prob != nil {
		a.Probability = prob
	}
	return &a
}

// decided tells the Labeller of an answer.
func (c *Cascade) decided(ctx context.Context, policy Policy, req Request, res *Result, err error) {
	if err != nil || res == nil || c.opts.Labeller == nil {
		return
	}
	c.opts.Labeller.Decided(ctx, Decided{Policy: policy, Request: req, CloudRequest: c.cloudRequest(req), Result: res})
}

// SetRouting replaces the scorer, threshold and probability map (on reload).
// A routing without one entry in Stages per local stage after the first is
// refused, and the routing in force is kept.
func (c *Cascade) SetRouting(r Routing) error {
	if err := checkStages(c.opts.Stages, r); err != nil {
		return err
	}
	c.routing.Store(&r)
	return nil
}

// checkStages checks that every local stage after the first has a model and
// a routing with a scorer.
func checkStages(stages []Stage, r Routing) error {
	if len(r.Stages) != len(stages) {
		return fmt.Errorf("cascade: %d local stages after the first, %d routings", len(stages), len(r.Stages))
	}
	for i, s := range stages {
		if s.Model == nil || r.Stages[i].Scorer == nil || s.Name == "" {
			return fmt.Errorf("cascade: stage %d (%q) needs a name, a model and a scorer", i+1, s.Name)
		}
	}
	return nil
}

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
	return models.Request{Messages: req.Messages, MaxTokens: req.MaxTokens, Temperature: req.Temperature, TopLogprobs: c.opts.TopLogprobs, Options: req.Options,
		Completion: req.Completion}
}

// cloudRequest is the original conversation, without confidence tokens.
func (c *Cascade) cloudRequest(req Request) cloud.Request {
	return cloud.Request{Messages: c.strip.StripMessages(req.Messages), MaxTokens: req.MaxTokens, Temperature: req.Temperature,
		Options: req.Options, Logprobs: req.Logprobs, TopLogprobs: req.TopLogprobs}
}

// localResult is the result of a local stage's answer under d, confidence
// tokens stripped.
func (c *Cascade) localResult(st localStage, g generation, d Decision) *Result {
	d.Route, d.Stage = st.name, st.index
	return &Result{
		Content: c.strip.Strip(g.resp.Content), FinishReason: g.resp.FinishReason, Decision: d,
		LocalLatency: d.localLatency(), LocalEnergy: d.localEnergy(), // every stage tried
		Usage:    Usage{PromptTokens: g.resp.PromptTokens, CompletionTokens: g.resp.CompletionTokens},
		Logprobs: g.resp.Tokens, ToolCalls: g.resp.ToolCalls,
	}
}

// deferredRequest is what the outbox keeps: the request as the cloud will
// get it, without confidence tokens.
func (c *Cascade) deferredRequest(req Request) Request {
	cr := c.cloudRequest(req)
	return Request{Messages: cr.Messages, MaxTokens: cr.MaxTokens, Temperature: cr.Temperature, Options: cr.Options}
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
