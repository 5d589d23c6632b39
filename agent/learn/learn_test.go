package learn_test

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/learn"
	"github.com/edgecascade/edgecascade/cloud"
	cloudmock "github.com/edgecascade/edgecascade/cloud/mock"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/mock"
	"github.com/edgecascade/edgecascade/uq"
	"github.com/edgecascade/edgecascade/uq/adapt"
)

// engine records what the labeller tells the online threshold.
type engine struct {
	mu        sync.Mutex
	decisions []adapt.Decision
	labels    map[string]label
}

type label struct {
	correct bool
	source  string
}

func (e *engine) Record(d adapt.Decision) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.decisions = append(e.decisions, d)
}

func (e *engine) Label(id, _ string, correct bool, source string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.labels == nil {
		e.labels = map[string]label{}
	}
	e.labels[id] = label{correct, source}
	return true
}

func (e *engine) snapshot() ([]adapt.Decision, map[string]label) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := map[string]label{}
	for k, v := range e.labels {
		m[k] = v
	}
	return append([]adapt.Decision(nil), e.decisions...), m
}

type gate struct {
	ok  bool
	why string
}

func (g gate) Allow() (bool, string) {
	if g.ok {
		return true, ""
	}
	if g.why != "" {
		return false, g.why
	}
	return false, "offline mode is on"
}

// setup: a local model sure (score 0.9) of "Paris." and unsure (0.1) of
// "7"; the cloud answers "paris" and "8".
func setup(t *testing.T, rate float64, g cascade.Gate) (*cascade.Cascade, *cloudmock.Provider, *engine, *learn.Labeller) {
	t.Helper()
	local := &mock.Model{ModelName: "local", ChatFunc: func(_ context.Context, req models.Request) (*models.Response, error) {
		if req.Messages[0].Content == "capital?" {
			return &models.Response{Content: "Paris.", Tokens: mock.Tokens("Paris.", math.Log(0.9))}, nil
		}
		return &models.Response{Content: "7", Tokens: mock.Tokens("7", math.Log(0.1))}, nil
	}}
	cl := &cloudmock.Provider{CompleteFunc: func(_ context.Context, req cloud.Request) (*cloud.Response, error) {
		if req.Messages[0].Content == "capital?" {
			return &cloud.Response{Content: "paris"}, nil
		}
		return &cloud.Response{Content: "8"}, nil
	}}
	eng := &engine{}
	l, err := learn.New(learn.Config{Engine: eng, Cloud: cl, Gate: g, Agreement: "normalized", ExploreRate: rate, Rand: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	scorer, _ := uq.Build(uq.MeanLogprob, uq.Options{})
	c, err := cascade.New(local, cl, cascade.Routing{Scorer: scorer, Threshold: 0.5}, cascade.Options{Labeller: l, Gate: g})
	if err != nil {
		t.Fatal(err)
	}
	return c, cl, eng, l
}

func ask(t *testing.T, c *cascade.Cascade, policy cascade.Policy, id, q string) *cascade.Result {
	t.Helper()
	res, err := c.Answer(context.Background(), policy, cascade.Request{ID: id, Messages: []models.Message{{Role: "user", Content: q}}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// An escalation the cloud answered is labelled at once by agreement, on
// the result (for the decision log) and in the engine.
func TestAgreement(t *testing.T) {
	c, _, eng, _ := setup(t, 0, nil)
	res := ask(t, c, cascade.PolicyAuto, "a", "sum?")
	if res.Label == nil || res.Label.Correct || res.Label.Source != adapt.SourceAgreement || res.LocalContent != "7" {
		t.Fatalf("label %+v, local %q", res.Label, res.LocalContent)
	}
	ds, ls := eng.snapshot()
	if len(ds) != 1 || ds[0].Accepted || ds[0].ID != "a" || ls["a"] != (label{false, adapt.SourceAgreement}) {
		t.Fatalf("engine: %+v %+v", ds, ls)
	}
}

// Exploration: an accepted answer is also sent to the cloud in the
// background and labelled from its answer ("Paris." and "paris" agree once
// normalized), weighted 1/rate; never under policy local, never when the
// gate is closed (offline, budget).
func TestExploration(t *testing.T) {
	t.Run("auto", func(t *testing.T) {
		c, cl, eng, l := setup(t, 1, gate{ok: true})
		res := ask(t, c, cascade.PolicyAuto, "b", "capital?")
		if res.Decision.Route != cascade.RouteLocal || res.Label != nil {
			t.Fatalf("route %s label %+v", res.Decision.Route, res.Label)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, ls := eng.snapshot(); ls["b"] == (label{true, adapt.SourceExploration}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no exploration label")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if cl.Calls() != 1 || l.Stats().Explored != 1 {
			t.Fatalf("cloud calls %d, stats %+v", cl.Calls(), l.Stats())
		}
	})
	t.Run("policy local", func(t *testing.T) {
		c, cl, eng, l := setup(t, 1, gate{ok: true})
		ask(t, c, cascade.PolicyLocal, "c", "capital?")
		ask(t, c, cascade.PolicyLocal, "d", "sum?")
		l.Close()
		if ds, ls := eng.snapshot(); cl.Calls() != 0 || len(ds) != 0 || len(ls) != 0 {
			t.Fatalf("policy local: %d cloud calls, %d decisions, %d labels", cl.Calls(), len(ds), len(ls))
		}
	})
	t.Run("over budget", func(t *testing.T) {
		c, cl, eng, l := setup(t, 1, gate{why: "daily cloud call cap reached (20 of 20 on 12-06 UTC)"})
		ask(t, c, cascade.PolicyAuto, "f", "capital?")
		l.Close()
		if _, ls := eng.snapshot(); cl.Calls() != 0 || len(ls) != 0 || l.Stats().Skipped["budget"] != 1 {
			t.Fatalf("over budget: %d cloud calls, labels %v, stats %+v", cl.Calls(), ls, l.Stats())
		}
	})
	t.Run("offline", func(t *testing.T) {
		c, cl, eng, l := setup(t, 1, gate{false, ""})
		ask(t, c, cascade.PolicyAuto, "e", "capital?")
		l.Close()
		if _, ls := eng.snapshot(); cl.Calls() != 0 || len(ls) != 0 || l.Stats().Skipped["offline"] != 1 {
			t.Fatalf("offline: %d cloud calls, labels %v, stats %+v", cl.Calls(), ls, l.Stats())
		}
	})
}

func TestMatcher(t *testing.T) {
	for _, tt := range []struct {
		name, a, b string
		want       bool
	}{
		{"exact", "Paris", " Paris\n", true},
		{"exact", "Paris.", "Paris", false},
		{"normalized", "Paris.", "  paris ", true},
		{"normalized", "-5", "5", false},
		{"normalized", "New  York", "new york", true},
		{"numeric", "5.0", "5", true},
		{"numeric", "-5", "5", false},
		{"numeric", "Paris", "paris.", true},
	} {
		m, err := learn.Matcher(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if got := m(tt.a, tt.b); got != tt.want {
			t.Errorf("%s(%q, %q) = %v", tt.name, tt.a, tt.b, got)
		}
	}
	if _, err := learn.Matcher("fuzzy"); err == nil {
		t.Error("unknown matcher accepted")
	}
}

// Judge: the escalation's label comes from one more cloud call that asks
// whether the local answer is acceptable; it arrives in the background.
func TestJudge(t *testing.T) {
	local := &mock.Model{ModelName: "local", Answer: models.Response{Content: "7", Tokens: mock.Tokens("7", math.Log(0.1))}}
	cl := &cloudmock.Provider{CompleteFunc: func(_ context.Context, req cloud.Request) (*cloud.Response, error) {
		if strings.Contains(req.Messages[0].Content, "Reference answer:\n8") && strings.Contains(req.Messages[0].Content, "Candidate answer:\n7") {
			return &cloud.Response{Content: "No."}, nil
		}
		return &cloud.Response{Content: "8"}, nil
	}}
	eng := &engine{}
	l, err := learn.New(learn.Config{Engine: eng, Cloud: cl, Agreement: "judge"})
	if err != nil {
		t.Fatal(err)
	}
	scorer, _ := uq.Build(uq.MeanLogprob, uq.Options{})
	c, err := cascade.New(local, cl, cascade.Routing{Scorer: scorer, Threshold: 0.5}, cascade.Options{Labeller: l})
	if err != nil {
		t.Fatal(err)
	}
	res := ask(t, c, cascade.PolicyAuto, "j", "sum?")
	deadline := time.Now().Add(5 * time.Second)
	for st := l.Stats(); st.Judged+st.JudgeFailed == 0 && time.Now().Before(deadline); st = l.Stats() {
		time.Sleep(10 * time.Millisecond)
	}
	l.Close()
	if _, ls := eng.snapshot(); res.Label != nil || ls["j"] != (label{false, adapt.SourceAgreement}) || cl.Calls() != 2 || l.Stats().Judged != 1 {
		t.Fatalf("label on the result %+v, engine %v, cloud calls %d, stats %+v", res.Label, ls, cl.Calls(), l.Stats())
	}
}
