// Package learn labels the cascade's answers from what the deployment
// already sees, for the online threshold (uq/adapt): an escalated local
// answer is compared with the cloud's (agreement), and a share of accepted
// local answers is also sent to the cloud in the background (exploration).
// Feedback labels come through the HTTP API (POST /v1/cascade/feedback).
// docs/adaptation.md explains the choices.
package learn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/decisionlog"
	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/uq/adapt"
)

// Engine is the online threshold (uq/adapt.Engine).
type Engine interface {
	Record(d adapt.Decision)
	Label(id, group string, correct bool, source string) bool
}

// LabelLog keeps labels with their decisions (agent/decisionlog.Log).
type LabelLog interface {
	Label(ctx context.Context, id string, lb decisionlog.Label, replace bool) (decisionlog.Entry, bool, error)
}

// Config configures a Labeller.
type Config struct {
	Engine Engine
	// Log, when set, keeps the background labels (exploration, judge) with
	// their decisions; agreement labels ride on the result.
	Log LabelLog
	// Cloud is the cascade's cloud, behind the reachability and budget
	// guards: every call it makes counts against the budget.
	Cloud cloud.Provider
	// Gate says whether the cloud may be called now (offline, budget).
	Gate cascade.Gate
	// Agreement is exact, normalized, numeric or judge.
	Agreement string
	// ExploreRate is the share of accepted local answers shadow-escalated.
	ExploreRate float64
	// Timeout bounds each background cloud call (default 2 minutes).
	Timeout time.Duration
	// Rand draws in [0, 1) (default math/rand/v2).
	Rand   func() float64
	Logger *slog.Logger
}

// Labeller implements cascade.Labeller.
type Labeller struct {
	cfg    Config
	match  func(local, cloud string) bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stats  stats
}

type stats struct {
	explored, exploreFailed, judged, judgeFailed atomic.Uint64
	mu                                           sync.Mutex
	skipped                                      map[string]uint64
}

// Stats are the labeller's counters for /metrics.
type Stats struct {
	// Explored counts shadow escalations made; ExploreFailed those whose
	// cloud call failed; Skipped those drawn but not made, by reason
	// (offline, budget, ...).
	Explored, ExploreFailed uint64
	Skipped                 map[string]uint64
	// Judged counts judge calls made; JudgeFailed those that failed.
	Judged, JudgeFailed uint64
}

// New returns a labeller; Close stops its background calls.
func New(cfg Config) (*Labeller, error) {
	if cfg.Engine == nil || cfg.Cloud == nil {
		return nil, errors.New("learn: an engine and a cloud are required")
	}
	if cfg.Agreement == "" {
		cfg.Agreement = "normalized"
	}
	m, err := Matcher(cfg.Agreement)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Labeller{cfg: cfg, match: m, ctx: ctx, cancel: cancel}
	l.stats.skipped = map[string]uint64{}
	return l, nil
}

// Close cancels the background calls and waits for them.
func (l *Labeller) Close() {
	l.cancel()
	l.wg.Wait()
}

// Stats returns the counters.
func (l *Labeller) Stats() Stats {
	l.stats.mu.Lock()
	defer l.stats.mu.Unlock()
	sk := make(map[string]uint64, len(l.stats.skipped))
	for k, v := range l.stats.skipped {
		sk[k] = v
	}
	return Stats{Explored: l.stats.explored.Load(), ExploreFailed: l.stats.exploreFailed.Load(), Skipped: sk,
		Judged: l.stats.judged.Load(), JudgeFailed: l.stats.judgeFailed.Load()}
}

// Decided implements cascade.Labeller: it records every scored auto
// decision, labels an escalation the cloud answered by agreement, and
// draws accepted ones for exploration. Policy local and cloud answers are
// left alone (local never leaves the device).
func (l *Labeller) Decided(_ context.Context, d cascade.Decided) {
	res := d.Result
	dec := res.Decision
	if d.Policy != cascade.PolicyAuto || dec.Score == nil || dec.ID == "" {
		return
	}
	accepted := !dec.Escalated && dec.Route == cascade.RouteLocal
	l.cfg.Engine.Record(adapt.Decision{ID: dec.ID, Group: dec.Group, Score: *dec.Score, Accepted: accepted})
	switch {
	case dec.Escalated && dec.Route == cascade.RouteCloud && res.LocalContent != "":
		if l.cfg.Agreement == "judge" {
			l.background(func(ctx context.Context) {
				l.judgeLabel(ctx, d, res.LocalContent, res.Content, adapt.SourceAgreement, 1)
			})
			return
		}
		ok := l.match(res.LocalContent, res.Content)
		res.Label = &cascade.Label{Correct: ok, Source: adapt.SourceAgreement, Weight: 1}
		l.cfg.Engine.Label(dec.ID, dec.Group, ok, adapt.SourceAgreement)
	case accepted && l.cfg.ExploreRate > 0 && l.cfg.Rand() < l.cfg.ExploreRate:
		if l.cfg.Gate != nil {
			if ok, why := l.cfg.Gate.Allow(); !ok {
				l.skip(why)
				return
			}
		}
		l.background(func(ctx context.Context) { l.explore(ctx, d) })
	}
}

func (l *Labeller) skip(why string) {
	reason := "cloud not allowed"
	switch {
	case strings.Contains(why, "budget"), strings.Contains(why, " cap "):
		reason = "budget" // cloud/budget: "daily cloud call cap reached (...)"
	case strings.Contains(why, "offline"), strings.Contains(why, "unreachable"), strings.Contains(why, "reach"):
		reason = "offline"
	}
	l.stats.mu.Lock()
	l.stats.skipped[reason]++
	l.stats.mu.Unlock()
}

func (l *Labeller) background(fn func(ctx context.Context)) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		ctx, cancel := context.WithTimeout(l.ctx, l.cfg.Timeout)
		defer cancel()
		fn(ctx)
	}()
}

// explore sends an accepted local answer's request to the cloud and labels
// the local answer from the cloud's.
func (l *Labeller) explore(ctx context.Context, d cascade.Decided) {
	resp, err := l.cfg.Cloud.Complete(ctx, d.CloudRequest)
	if err != nil {
		l.stats.exploreFailed.Add(1)
		var nc *cloud.NotCalledError
		switch {
		case errors.Is(err, cloud.ErrBudget):
			l.skip("budget")
		case errors.As(err, &nc):
			l.skip("offline")
		}
		l.cfg.Logger.Debug("exploration: the cloud did not answer", "id", d.Result.Decision.ID, "err", err)
		return
	}
	l.stats.explored.Add(1)
	w := 1 / l.cfg.ExploreRate
	if l.cfg.Agreement == "judge" {
		l.judgeLabel(ctx, d, d.Result.Content, resp.Content, adapt.SourceExploration, w)
		return
	}
	l.record(ctx, d, l.match(d.Result.Content, resp.Content), adapt.SourceExploration, w)
}

// judgeLabel asks the cloud whether the local answer is acceptable given
// its own, and labels by the verdict.
func (l *Labeller) judgeLabel(ctx context.Context, d cascade.Decided, local, reference, source string, weight float64) {
	ok, err := l.judge(ctx, d.CloudRequest, local, reference)
	if err != nil {
		l.stats.judgeFailed.Add(1)
		l.cfg.Logger.Debug("judge: no verdict", "id", d.Result.Decision.ID, "err", err)
		return
	}
	l.stats.judged.Add(1)
	l.record(ctx, d, ok, source, weight)
}

// record gives a background label to the engine and the decision log. The
// log may not hold the decision yet (it is appended once the response is
// out): a few tries.
func (l *Labeller) record(ctx context.Context, d cascade.Decided, correct bool, source string, weight float64) {
	dec := d.Result.Decision
	l.cfg.Engine.Label(dec.ID, dec.Group, correct, source)
	if l.cfg.Log == nil {
		return
	}
	lb := decisionlog.Label{Correct: correct, Source: source, Weight: weight, Time: time.Now().UTC()}
	for try := 0; ; try++ {
		_, _, err := l.cfg.Log.Label(ctx, dec.ID, lb, false)
		if !errors.Is(err, decisionlog.ErrUnknownID) || try == 20 {
			if err != nil {
				l.cfg.Logger.Debug("could not keep a label in the decision log", "id", dec.ID, "source", source, "err", err)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// judgePrompt asks the cloud for a verdict.
const judgePrompt = `You are grading an answer against a reference answer.
Question:
%s

Reference answer:
%s

Candidate answer:
%s

Is the candidate answer acceptable, that is, does it give the same answer as the reference? Reply with one word: yes or no.`

func (l *Labeller) judge(ctx context.Context, req cloud.Request, local, reference string) (bool, error) {
	q := ""
	if n := len(req.Messages); n > 0 {
		q = req.Messages[n-1].Content
	}
	jr := cloud.Request{Messages: []models.Message{{Role: "user", Content: fmt.Sprintf(judgePrompt, q, reference, local)}}, MaxTokens: 4}
	zero := 0.0
	jr.Temperature = &zero
	resp, err := l.cfg.Cloud.Complete(ctx, jr)
	if err != nil {
		return false, err
	}
	v := strings.ToLower(strings.TrimSpace(resp.Content))
	switch {
	case strings.HasPrefix(v, "yes"):
		return true, nil
	case strings.HasPrefix(v, "no"):
		return false, nil
	}
	return false, fmt.Errorf("the judge answered %q, not yes or no", resp.Content)
}
