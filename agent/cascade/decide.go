package cascade

import (
	"context"
	"fmt"
	"time"

	"github.com/edgecascade/edgecascade/agent/resources"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/uq"
)

// Where one request is decided, top to bottom: gather the facts (a plan),
// generate locally, score, decide (accept, a pure function), act (answer
// from the cloud, fall back on the local answer, defer). Answer and Stream
// differ only in where the answer goes (sinks.go).

// Answer returns a complete answer under the policy.
func (c *Cascade) Answer(ctx context.Context, policy Policy, req Request) (*Result, error) {
	res, err := c.run(ctx, policy, req, whole{c})
	c.decided(ctx, policy, req, res, err)
	return res, err
}

// Stream answers under the policy, streaming to e. In auto mode the decision
// is made before anything is streamed (the local answer is generated and
// scored first); policies local and cloud stream as the model generates, and
// for local the score arrives in the returned Result only.
func (c *Cascade) Stream(ctx context.Context, policy Policy, req Request, e Emitter) (*Result, error) {
	res, err := c.run(ctx, policy, req, &streamed{c: c, e: e, req: req})
	c.decided(ctx, policy, req, res, err)
	return res, err
}

// run decides one request and acts on the decision, sending the answer to out.
func (c *Cascade) run(ctx context.Context, policy Policy, req Request, out sink) (*Result, error) {
	r := c.adapted(c.routing.Load(), req.Group)
	d := c.baseDecision(r)
	d.ID, d.Group = req.ID, req.Group
	switch policy {
	case PolicyCloud:
		if req.Completion != nil {
			return nil, &CompletionError{Provider: c.cloud.Name(), Field: completionField(req.Completion)}
		}
		d.add(policyCause(PolicyCloud))
		return out.cloud(ctx, req, d)
	case PolicyLocal:
		if c.multiStage() {
			return c.runLocalStages(ctx, r, req, d, out)
		}
		return c.runLocal(ctx, r, req, d, out, policyCause(PolicyLocal))
	case PolicyAuto:
		if req.Completion != nil { // the cloud takes chats only
			return c.runLocal(ctx, r, req, d, out, completionCause(c.cloud.Name(), req.Completion))
		}
	default:
		return nil, &UnknownModelError{Model: string(policy)}
	}

	// 1. Gather the facts: resource rules, reachability and budget, and the
	// preflight (context length, pre-generation probe).
	p := c.gather(ctx, r, req)
	switch {
	case p.cloudFirst():
		d.Escalated = true
		d.add(ruleSkipCause(p.verdict))
		res, err := out.cloud(ctx, req, d)
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil || StreamStarted(err) {
			return nil, err
		}
		if p.verdict.Action == resources.ActionSkipLocal {
			// No local answer to fall back on.
			return nil, c.deferRequest(ctx, req, d, err)
		}
		c.log.Warn("cloud failed for a request a resource rule preferred it for; answering locally", "err", err)
		d.Escalated = false
		d.set(ruleCloudFailedCause(p.verdict, err))
		p.cloudErr = err
	case p.skip != nil && !p.skipFirst:
		d.Escalated = true
		d.add(*p.skip)
		return c.cloudOrDefer(ctx, req, d, out)
	}

	return c.walk(ctx, r, req, d, p, out)
}

// walk takes a request through the local stages in order under the plan:
// each generates, scores and decides (accept, a pure function); the first
// accepted answer is the answer. A stage that is down is skipped with the
// reason. When none accepts, the cloud stage answers (never under policy
// local, where the last local stage always accepts); when the cloud fails,
// the last local answer is the answer and the escalation is deferred when
// the cloud may answer later.
func (c *Cascade) walk(ctx context.Context, r *Routing, req Request, d Decision, p plan, out sink) (*Result, error) {
	stages := c.localStages(r)
	var (
		gen    generation
		answer *localStage // the stage of gen, the last local answer
	)
	for i := range stages {
		st := &stages[i]
		last := i == len(stages)-1
		if why := c.skipStage(ctx, i, *st, p, req); why != nil {
			d.tried(*st, nil, generation{}, why.Text)
			d.add(*why)
			continue
		}
		// 2. Generate locally.
		g, err := c.generate(ctx, st.model, req)
		if err != nil {
			if ctx.Err() != nil || !isUnavailable(err) {
				return nil, fmt.Errorf("local answer: %w", err)
			}
			c.log.Warn("local stage unavailable, skipped", "stage", st.name, "err", err)
			d.tried(*st, nil, g, err.Error())
			if c.multiStage() {
				d.add(stageDownCause(st.name, err))
			} else {
				d.set(localUnavailableCause(err))
			}
			continue
		}
		gen, answer = g, st

		// 3. Score.
		s := c.score(ctx, st.routing, req, g.resp)
		if len(g.resp.ToolCalls) == 0 { // the format is the text answer's
			s.formatErr = checkFormat(req.Format, c.strip.Strip(g.resp.Content))
		}
		d.atStage(*st)
		d.Score, d.Confidence = s.raw(), s.confidence()
		d.tried(*st, &s, g, "")

		// 4. Decide.
		escalate, why := accept(s, st.routing, p, last)
		d.add(c.staged(*st, why)...)
		if !escalate {
			return out.deliver(c.localResult(*st, g, d))
		}
	}
	if p.localOnly {
		// The last local stage is down (it would have accepted): the last
		// local answer is the answer, when a stage gave one.
		if answer == nil {
			return nil, fmt.Errorf("local answer: %w", models.ErrUnavailable)
		}
		return out.deliver(c.localResult(*answer, gen, d))
	}
	d.Escalated = true
	if answer == nil {
		// No local answer to fall back on.
		if !c.multiStage() && p.cloudErr == nil {
			c.log.Warn("local model unavailable, answering from the cloud")
		}
		return c.cloudOrDefer(ctx, req, d, out)
	}

	// 5. Act: escalate; when the cloud fails, the local answer is the answer
	// and the escalation is deferred when the cloud may answer later. When
	// the cloud a rule preferred has just failed, it is not asked again.
	local := c.localResult(*answer, gen, d)
	local.Decision.Escalated = false
	if err := p.cloudErr; err != nil {
		c.fallBack(ctx, req, local, err, false)
		return out.deliver(local)
	}
	res, err := out.cloud(ctx, req, d)
	if err == nil {
		res.LocalLatency, res.LocalEnergy, res.LocalContent = d.localLatency(), d.localEnergy(), local.Content
		return res, nil
	}
	if ctx.Err() != nil || StreamStarted(err) {
		return nil, err
	}
	c.fallBack(ctx, req, local, err, true)
	local.Decision.add(rulesCauses(p.verdict)...)
	return out.deliver(local)
}

// localLatency is the time the local stages tried took together.
func (d Decision) localLatency() time.Duration {
	var total time.Duration
	for _, t := range d.Stages {
		total += t.latency
	}
	return total
}

// localEnergy is the energy the local stages tried used together; nil when
// none was measured.
func (d Decision) localEnergy() *float64 {
	var total float64
	measured := false
	for _, t := range d.Stages {
		if t.EnergyJ != nil {
			total, measured = total+*t.EnergyJ, true
		}
	}
	if !measured {
		return nil
	}
	return &total
}

// runLocal answers under policy local (and, under auto, what only the local
// model can answer, why saying so): the request never leaves the device,
// and the score is reported but decides nothing.
func (c *Cascade) runLocal(ctx context.Context, r *Routing, req Request, d Decision, out sink, why Cause) (*Result, error) {
	d.Route = RouteLocal
	d.add(why)
	// Under policy local, tools or images the local model does not take
	// are an error, as is a prompt that does not fit.
	if ue := c.unsupported(ctx, req); ue != nil {
		return nil, ue
	}
	// Under policy local the preflight never skips: a prompt that does not
	// fit is an error.
	if n, ok := c.fits(ctx, req); !ok {
		return nil, &ContextLengthError{Tokens: n, Reserve: req.MaxTokens, Length: c.opts.Context.Length}
	}
	gen, err := out.local(ctx, req, d)
	if err != nil {
		return nil, err
	}
	s := c.score(ctx, r, req, gen.resp)
	st := c.localStages(r)[0]
	d.Score, d.Confidence = s.raw(), s.confidence()
	d.tried(st, &s, gen, "")
	_, scoreWhy := judge(s, r)
	d.add(scoreWhy...)
	return c.localResult(st, gen, d), nil
}

// runLocalStages answers under policy local with more than one local
// stage: the local stages are walked as in auto mode, the last one always
// accepts, and the cloud is never asked.
func (c *Cascade) runLocalStages(ctx context.Context, r *Routing, req Request, d Decision, out sink) (*Result, error) {
	d.add(policyCause(PolicyLocal))
	if ue := c.unsupported(ctx, req); ue != nil {
		return nil, ue
	}
	p := plan{localOnly: true}
	if n, ok := c.fits(ctx, req); !ok {
		// The first model's context: the next stage answers.
		why := contextLengthCause(n, req.MaxTokens, c.opts.Context.Length)
		p.skip, p.skipFirst = &why, true
	}
	return c.walk(ctx, r, req, d, p, out)
}

// plan is what auto mode knows before the local answer.
type plan struct {
	// verdict is the resource rules' verdict (the zero verdict when there
	// are none); online is whether the gate lets the cloud be called.
	verdict resources.Verdict
	online  bool
	// skip, when set, is why the preflight skips the local model.
	skip *Cause
	// cloudErr is set when a rule preferred the cloud and the cloud failed
	// (the reason already says so): a local answer that clears the
	// threshold is the answer; one that does not is an escalation that
	// failed with this error.
	cloudErr error
	// localOnly is set under policy local: the cloud stage is never asked
	// and the last local stage always accepts.
	localOnly bool
	// skipFirst is set when the preflight skips the first of several local
	// stages (skip says why): the walk starts at the second.
	skipFirst bool
}

// cloudFirst reports whether the rules send the request to the cloud
// without a local attempt.
func (p plan) cloudFirst() bool {
	return p.verdict.Action == resources.ActionPreferCloud || p.verdict.Action == resources.ActionSkipLocal
}

// gather evaluates the resource rules and, unless they settle the route
// (a cloud-first action, or force_local), the preflight checks.
func (c *Cascade) gather(ctx context.Context, r *Routing, req Request) plan {
	var p plan
	p.online, _ = c.cloudAllowed()
	if ue := c.unsupported(ctx, req); ue != nil {
		// The local model cannot answer: the rules have nothing to choose.
		why := capabilityCause(ue)
		p.skip = &why
		return p
	}
	if c.opts.Resources != nil {
		p.verdict = c.opts.Resources.Evaluate(ctx, p.online)
		if len(p.verdict.Fired) > 0 {
			c.log.Debug("resource rules fired", "rules", p.verdict.Fired, "action", p.verdict.Action)
		}
	}
	if p.cloudFirst() || p.verdict.Action == resources.ActionForceLocal {
		return p
	}
	p.skip = c.preflight(ctx, r, req)
	// The preflight is the first model's: with more local stages, the
	// next one answers instead of the cloud.
	p.skipFirst = p.skip != nil && c.multiStage()
	return p
}

// scored is the scorer's view of a local answer.
type scored struct {
	scorer string
	score  float64
	// prob is the calibrated probability of the score (the score itself
	// without a calibration).
	prob float64
	note string
	// err is set when the answer could not be scored.
	err error
	// formatErr is set when the request asked for JSON and the answer is
	// not (or does not match the schema).
	formatErr error
}

func (s scored) raw() *float64 {
	v := s.score
	return &v
}

func (s scored) confidence() *float64 {
	v := s.prob
	return &v
}

// score scores a local answer.
func (c *Cascade) score(ctx context.Context, r *Routing, req Request, resp *models.Response) scored {
	res, err := r.Scorer.Score(ctx, uq.Input{Messages: req.Messages, Answer: answerText(resp), Tokens: resp.Tokens})
	if err != nil {
		return scored{scorer: r.Scorer.Name(), err: err}
	}
	s := scored{scorer: r.Scorer.Name(), score: res.Score, prob: res.Score, note: res.Note}
	if r.Probability != nil {
		s.prob = r.Probability(res.Score)
	}
	return s
}

// judge reports whether the score clears the threshold, and why.
func judge(s scored, r *Routing) (bool, []Cause) {
	if s.err != nil {
		return false, []Cause{unscorableCause(s.err)}
	}
	why := []Cause{scoreCause(s.scorer, s.score, r.Threshold)}
	if s.note != "" {
		why = append(why, scoreNoteCause(s.note))
	}
	return s.score >= r.Threshold, why
}

// accept decides whether a scored local answer of a stage escalates (to
// the next stage) under the plan, and says why: the score clears the
// stage's threshold (when the cloud a rule preferred already failed, only
// the score decides), or force_local holds (while the cloud could be
// called). last says the stage is the last local one: the next is the
// cloud, or nothing under policy local (then it always accepts).
// It is pure: the same inputs give the same decision.
func accept(s scored, r *Routing, p plan, last bool) (escalate bool, why []Cause) {
	ok, why := judge(s, r)
	switch {
	case last && p.localOnly:
		return false, why // policy local: the last local stage answers
	case s.formatErr != nil: // whatever the score, the rules and force_local
		return true, append(why, formatCause(s.formatErr))
	case p.cloudErr != nil:
		return !ok, why // the rule and the cloud's failure are in the reason
	case ok:
		return false, append(why, rulesCauses(p.verdict)...)
	case !last:
		return true, why // on to the next local stage
	case p.verdict.Action == resources.ActionForceLocal && p.online:
		return false, append(why, forcedLocalCause(p.verdict))
	}
	return true, why
}

// cloudOrDefer answers from the cloud when auto mode has no local answer to
// fall back on; it defers the request when the cloud may answer later.
func (c *Cascade) cloudOrDefer(ctx context.Context, req Request, d Decision, out sink) (*Result, error) {
	res, err := out.cloud(ctx, req, d)
	if err != nil && !StreamStarted(err) {
		return nil, c.deferRequest(ctx, req, d, err)
	}
	return res, err
}

// fallBack turns a local answer whose escalation failed into the answer,
// and defers the escalation when the cloud may answer later. note adds the
// failure to the reason (false when the reason already has it).
func (c *Cascade) fallBack(ctx context.Context, req Request, local *Result, err error, note bool) {
	if why := escalationFailedCause(err); note {
		if why.Kind == CauseCloudFailed {
			c.log.Warn("escalation failed, answering locally", "err", err)
		}
		local.Decision.add(why)
	}
	// The cascade did decide to escalate; the answer is local because the
	// cloud could not give one.
	local.Decision.Escalated = true
	local.EscalationFailed = true
	if !Deferrable(err) || c.opts.Deferrer == nil {
		return
	}
	if req.NoDefer {
		local.Decision.add(notDeferredCause())
		return
	}
	// The client may be gone by now; the item must still be stored.
	id, derr := c.opts.Deferrer.Defer(context.WithoutCancel(ctx), c.deferredRequest(req), local.Content, local.Decision.Reason)
	if derr != nil {
		c.log.Error("could not defer the escalation", "err", derr)
		local.Decision.add(deferFailedCause(derr))
		return
	}
	local.Decision.Deferred, local.Decision.DeferredID = true, id
	local.Decision.add(deferredCause(id))
}

// deferRequest handles a failed cloud answer in auto mode when there is no
// local answer to give (the local model is down, or the prompt does not fit
// it): the request is deferred when the cloud may answer later.
func (c *Cascade) deferRequest(ctx context.Context, req Request, d Decision, err error) error {
	if ctx.Err() != nil || !Deferrable(err) || c.opts.Deferrer == nil || req.NoDefer {
		return err
	}
	id, derr := c.opts.Deferrer.Defer(context.WithoutCancel(ctx), c.deferredRequest(req), "", fmt.Sprintf("%s; %v", d.Reason, err))
	if derr != nil {
		c.log.Error("could not defer the request", "err", derr)
		return fmt.Errorf("%w; could not defer the request (%v)", err, derr)
	}
	return &DeferredError{ID: id, Err: err}
}

// generation is a local answer as the model gave it.
type generation struct {
	resp    *models.Response
	latency time.Duration
	// energy is the machine's energy during the generation, when measured.
	energy *float64
}

// generate asks a local model for a complete answer, under the energy
// meter when there is one.
func (c *Cascade) generate(ctx context.Context, m models.Model, req Request) (generation, error) {
	start := time.Now()
	var g generation
	fn := func() error {
		var err error
		g.resp, err = m.Chat(ctx, c.localRequest(req))
		return err
	}
	if c.opts.Energy == nil {
		err := fn()
		g.latency = time.Since(start)
		return g, err
	}
	joules, measured, err := c.opts.Energy.Measure(ctx, fn)
	g.latency = time.Since(start)
	if measured {
		g.energy = &joules
	}
	return g, err
}
