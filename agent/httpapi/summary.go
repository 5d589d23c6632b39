package httpapi

import (
	"context"
	"net/http"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/edgecascade/edgecascade/agent/decisionlog"
	"github.com/edgecascade/edgecascade/agent/outbox"
	"github.com/edgecascade/edgecascade/agent/resources"
	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/cloud/budget"
	"github.com/edgecascade/edgecascade/uq/adapt"
	"github.com/edgecascade/edgecascade/uq/calib"
)

// GET /v1/cascade/summary: what the dashboard (agent/ui) shows beside
// /healthz and the events stream, computed from the decision log, the
// budget, the calibration file and the metrics.

// summaryWindow is how many of the last decisions the summary counts.
const summaryWindow = 10000

// recentScores is how many of the last scores the histogram shows.
const recentScores = 500

// summary is the body of /v1/cascade/summary.
type summary struct {
	Object string `json:"object"`
	// Features are the optional routes this daemon serves (from the route
	// table and the configuration): the dashboard shows what exists.
	Features map[string]bool `json:"features"`
	Today    periodSummary   `json:"today"`
	Month    periodSummary   `json:"this_month"`
	// Counted is how many decisions were read (the last summaryWindow at
	// most); Complete is false when the month began before the oldest.
	Counted  int           `json:"counted"`
	Complete bool          `json:"complete"`
	Prices   priceView     `json:"prices"`
	Budget   *budget.Usage `json:"budget,omitempty"`
	// Energy is what the local generations measured since the daemon
	// started (nil where no counter can be read).
	Energy     *energySummary    `json:"energy,omitempty"`
	Confidence confidenceSummary `json:"confidence"`
	// Deferred are the outbox items of the last decisions, newest first.
	Deferred  []outbox.DeferredItem `json:"deferred"`
	Resources []ruleView            `json:"resource_rules"`
}

// priceView is the cloud's price per 1,000 tokens.
type priceView struct {
	InputPer1K  float64 `json:"input_per_1k"`
	OutputPer1K float64 `json:"output_per_1k"`
}

// ruleView is a resource rule as configured (resources.rules).
type ruleView struct {
	Name         string   `json:"name"`
	OnBattery    *bool    `json:"on_battery,omitempty"`
	BatteryBelow *float64 `json:"battery_below,omitempty"`
	TempAbove    *float64 `json:"temp_above,omitempty"`
	Offline      *bool    `json:"offline,omitempty"`
	Action       string   `json:"action"`
}

// periodSummary counts the decisions of a UTC day or month. Savings is
// what the local answers would have cost at the cloud's prices (their
// tokens priced as cloud tokens): always-cloud cost minus actual cost.
type periodSummary struct {
	Requests         int     `json:"requests"`
	Local            int     `json:"local"`
	Cloud            int     `json:"cloud"`
	Deferred         int     `json:"deferred"`
	LocalShare       float64 `json:"local_share"`
	PromptTokens     int     `json:"prompt_tokens"`
	CompletionTokens int     `json:"completion_tokens"`
	Cost             float64 `json:"cost"`
	AlwaysCloudCost  float64 `json:"always_cloud_cost"`
	Savings          float64 `json:"savings"`
	// EnergyJ is the local generations' energy in joules over the
	// decisions where it was measured; nil when none was.
	EnergyJ *float64 `json:"energy_j,omitempty"`
}

type energySummary struct {
	Generations uint64  `json:"generations"`
	Joules      float64 `json:"joules"`
}

// confidenceSummary is the threshold in force, where it came from, the
// calibration's reliability map and promise, and the recent scores.
type confidenceSummary struct {
	Scorer    string  `json:"scorer"`
	Threshold float64 `json:"threshold"`
	// Source is the calibration file, or "config" for the configured
	// threshold.
	Source string `json:"source"`
	// Method, AcceptedAccuracy and Certificate are the calibration's (from
	// its labelled data); Reliability its map from score to probability of
	// a right answer.
	Method           calib.Method       `json:"method,omitempty"`
	Items            int                `json:"items,omitempty"`
	AcceptedAccuracy *float64           `json:"accepted_accuracy,omitempty"`
	Certificate      *calib.Certificate `json:"certificate,omitempty"`
	Guarantee        string             `json:"guarantee,omitempty"`
	Reliability      *calib.Isotonic    `json:"reliability,omitempty"`
	Error            string             `json:"error,omitempty"`
	// Labels is the accuracy of the accepted local answers among the
	// labelled decisions counted (feedback, agreement, exploration): what
	// the deployment shows of the promise; nil when none is labelled.
	Labels *labelSummary `json:"labels,omitempty"`
	// Scores are the raw scores of the last decisions, oldest first.
	Scores []float64 `json:"scores"`
	// Online, with adapt.enabled, is the online threshold's state (as
	// /healthz shows it); Threshold is then its global window's.
	Online *adapt.Status `json:"online,omitempty"`
	// Stages, with cascade.stages, are the local stages in order with
	// their scorer and threshold (the first is Scorer and Threshold).
	Stages []stageThreshold `json:"stages,omitempty"`
}

// stageThreshold is a local stage's scorer and threshold.
type stageThreshold struct {
	Name      string  `json:"name"`
	Scorer    string  `json:"scorer"`
	Threshold float64 `json:"threshold"`
}

// labelSummary is the accepted answers' accuracy from labels, with the
// Clopper–Pearson lower bound at level 1-Delta (Delta: the calibration's,
// else labelDelta).
type labelSummary struct {
	Labelled   int      `json:"labelled"`
	Accepted   int      `json:"accepted"`
	Right      int      `json:"right"`
	Accuracy   *float64 `json:"accuracy,omitempty"`
	LowerBound *float64 `json:"lower_bound,omitempty"`
	Delta      float64  `json:"delta"`
}

// labelDelta is the bound's delta without a calibration certificate.
const labelDelta = 0.1

func (s *Server) handleSummary(w http.ResponseWriter, r *http.Request) {
	now := s.now().UTC()
	out := summary{Object: "cascade.summary", Features: s.features(),
		Prices:   priceView{InputPer1K: s.cfg.CloudPrice.InputPer1K, OutputPer1K: s.cfg.CloudPrice.OutputPer1K},
		Deferred: []outbox.DeferredItem{}, Resources: rulesOf(s.cfg.ResourceRules)}
	var entries []decisionlog.Entry
	if s.cfg.Decisions != nil {
		var err error
		if entries, err = s.cfg.Decisions.Tail(r.Context(), summaryWindow); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	out.Counted = len(entries)
	out.Complete = len(entries) < summaryWindow || entries[0].Time.Before(month)
	for _, e := range entries {
		if !e.Time.Before(month) {
			out.Month.add(e, s.cfg.CloudPrice)
		}
		if !e.Time.Before(day) {
			out.Today.add(e, s.cfg.CloudPrice)
		}
	}
	out.Today.finish()
	out.Month.finish()
	if s.cfg.Budget != nil {
		u := s.cfg.Budget.Usage()
		out.Budget = &u
	}
	out.Energy = s.metrics.energySummary()
	out.Confidence = s.confidence(entries)
	out.Deferred = s.deferredOf(r.Context(), entries)
	s.writeJSON(w, r, http.StatusOK, out)
}

// features names the optional routes served: from the route table
// (feedback, when the route exists) and the configuration.
func (s *Server) features() map[string]bool {
	f := map[string]bool{
		"decisions": s.cfg.Decisions != nil, "events": s.cfg.Events != nil,
		"deferred": s.cfg.Deferrals != nil, "content": s.cfg.LogContent, "feedback": false,
	}
	for _, rt := range s.Routes() {
		if rt.Pattern == "/v1/cascade/feedback" {
			f["feedback"] = true
		}
	}
	return f
}

func rulesOf(rules []resources.Rule) []ruleView {
	out := make([]ruleView, 0, len(rules))
	for _, r := range rules {
		w := r.When
		out = append(out, ruleView{Name: r.Name, OnBattery: w.OnBattery, BatteryBelow: w.BatteryBelow, TempAbove: w.TempAbove, Offline: w.Offline, Action: string(r.Action)})
	}
	return out
}

func (p *periodSummary) add(e decisionlog.Entry, price cloud.Price) {
	p.Requests++
	if e.LocalJ != nil {
		if p.EnergyJ == nil {
			p.EnergyJ = new(float64)
		}
		*p.EnergyJ += *e.LocalJ
	}
	p.PromptTokens += e.PromptTokens
	p.CompletionTokens += e.CompletionTokens
	p.Cost += e.Cost
	switch {
	case e.FromCloud():
		p.Cloud++
		p.AlwaysCloudCost += e.Cost
	default:
		p.Local++
		p.AlwaysCloudCost += price.Cost(cloud.Usage{PromptTokens: e.PromptTokens, CompletionTokens: e.CompletionTokens})
	}
	if e.DeferredID != "" {
		p.Deferred++
	}
}

func (p *periodSummary) finish() {
	if p.Requests > 0 {
		p.LocalShare = float64(p.Local) / float64(p.Requests)
	}
	p.Savings = p.AlwaysCloudCost - p.Cost
}

// energySummary reads the energy histogram: nil when nothing was measured.
func (m *Metrics) energySummary() *energySummary {
	var d dto.Metric
	if err := m.energy.Write(&d); err != nil || d.Histogram == nil || d.Histogram.GetSampleCount() == 0 {
		return nil
	}
	return &energySummary{Generations: d.Histogram.GetSampleCount(), Joules: d.Histogram.GetSampleSum()}
}

// confidence describes the routing in force and the recent scores.
func (s *Server) confidence(entries []decisionlog.Entry) confidenceSummary {
	rt := s.cascade.Routing()
	c := confidenceSummary{Scorer: rt.Scorer.Name(), Threshold: rt.Threshold, Source: rt.Source, Scores: []float64{}}
	if c.Source == "" {
		c.Source = "config"
	} else if f, err := calib.ReadFile(rt.Source); err != nil {
		c.Error = err.Error()
	} else if fit, err := f.Fit(rt.Scorer.Name()); err != nil {
		c.Error = err.Error()
	} else {
		c.Method, c.Items = f.Method, f.Items
		if res := fit.Result; res != nil {
			acc := res.AcceptedAccuracy
			c.AcceptedAccuracy, c.Certificate, c.Guarantee = &acc, res.Certificate, res.Guarantee
		}
		if len(fit.Map.X) > 0 {
			m := fit.Map
			c.Reliability = &m
		}
	}
	if names := s.cascade.StageNames(); len(names) > 2 {
		c.Stages = append(c.Stages, stageThreshold{Name: names[0], Scorer: rt.Scorer.Name(), Threshold: rt.Threshold})
		for i, st := range rt.Stages {
			c.Stages = append(c.Stages, stageThreshold{Name: names[i+1], Scorer: st.Scorer.Name(), Threshold: st.Threshold})
		}
	}
	if s.cfg.Adapt != nil {
		st := s.cfg.Adapt.Status()
		c.Online, c.Threshold = &st, st.Global.Threshold
	}
	c.Labels = labelsOf(entries, c.Certificate)
	for i := max(0, len(entries)-recentScores); i < len(entries); i++ {
		if e := entries[i]; e.Score != nil {
			c.Scores = append(c.Scores, *e.Score)
		}
	}
	return c
}

// labelsOf summarises the labelled decisions: the accepted ones are those
// answered locally (route local, not deferred).
func labelsOf(entries []decisionlog.Entry, cert *calib.Certificate) *labelSummary {
	l := labelSummary{Delta: labelDelta}
	if cert != nil && cert.Delta > 0 && cert.Delta < 1 {
		l.Delta = cert.Delta
	}
	for _, e := range entries {
		if e.Label == nil {
			continue
		}
		l.Labelled++
		if e.FromCloud() || e.DeferredID != "" {
			continue
		}
		l.Accepted++
		if e.Label.Correct {
			l.Right++
		}
	}
	if l.Labelled == 0 {
		return nil
	}
	if l.Accepted > 0 {
		acc := float64(l.Right) / float64(l.Accepted)
		l.Accuracy = &acc
		if up, err := calib.ClopperPearsonUpper(l.Accepted-l.Right, l.Accepted, l.Delta); err == nil {
			lo := 1 - up
			l.LowerBound = &lo
		}
	}
	return &l
}

// deferredOf looks up the outbox items of the last decisions (20 at most),
// newest first.
func (s *Server) deferredOf(ctx context.Context, entries []decisionlog.Entry) []outbox.DeferredItem {
	items := []outbox.DeferredItem{}
	if s.cfg.Deferrals == nil {
		return items
	}
	for _, e := range slices.Backward(entries) {
		if e.DeferredID == "" {
			continue
		}
		if it, err := s.cfg.Deferrals.Get(ctx, e.DeferredID); err == nil {
			v := outbox.ItemView(it)
			v.LocalAnswer, v.Answer = "", nil // the status only: the answers are at /v1/cascade/deferred/{id}
			items = append(items, v)
		}
		if len(items) == 20 {
			break
		}
	}
	return items
}
