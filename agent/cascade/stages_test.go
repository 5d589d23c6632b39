package cascade_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/resources"
	"github.com/edgecascade/edgecascade/cloud"
	cloudmock "github.com/edgecascade/edgecascade/cloud/mock"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/mock"
	"github.com/edgecascade/edgecascade/uq"
)

// The stages table: three stages, weak → strong → cloud, on the same
// fakes; each row runs through Answer and through Stream.

type stageRow struct {
	name   string
	policy cascade.Policy
	rules  resources.Action
	// weak and strong are the stages' scores (0: unscorable); their Err
	// fails the stage.
	weak, strong       float64
	weakErr, strongErr error
	cloudErr           error
	// tools sends the request with a tool; strongTools makes the strong
	// stage report the tools capability (the weak one never does).
	tools, strongTools bool
	// tooLong makes the prompt too long for the first model's context.
	tooLong bool
	// energy, when set, is what every local generation measures (joules).
	energy float64

	route string
	stage int
	// tried are the stages tried, in order; skipped the ones skipped.
	tried, skipped []string
	reason         string
	escalated      bool
	deferred       bool
	cloudCalls     int
}

const (
	weakHigh   = "stage weak: mean_logprob score 0.900 >= threshold 0.500"
	weakLow    = "stage weak: mean_logprob score 0.200 < threshold 0.500"
	strongHigh = "stage strong: mean_logprob score 0.800 >= threshold 0.600"
	strongLow  = "stage strong: mean_logprob score 0.300 < threshold 0.600"
)

var stageRows = []stageRow{
	{name: "weak accepts", policy: cascade.PolicyAuto, weak: 0.9, strong: 0.8,
		route: "weak", stage: 0, tried: []string{"weak"}, reason: weakHigh},
	{name: "strong accepts", policy: cascade.PolicyAuto, weak: 0.2, strong: 0.8,
		route: "strong", stage: 1, tried: []string{"weak", "strong"}, reason: weakLow + "; " + strongHigh},
	{name: "cloud answers", policy: cascade.PolicyAuto, weak: 0.2, strong: 0.3,
		route: "frontier", stage: 2, tried: []string{"weak", "strong", "frontier"}, reason: weakLow + "; " + strongLow, escalated: true, cloudCalls: 1},
	{name: "weak down, skipped", policy: cascade.PolicyAuto, weakErr: models.ErrUnavailable, strong: 0.8,
		route: "strong", stage: 1, tried: []string{"weak", "strong"}, skipped: []string{"weak"},
		reason: "stage weak unavailable (local model unavailable); skipped; " + strongHigh},
	{name: "strong down, cloud answers", policy: cascade.PolicyAuto, weak: 0.2, strongErr: models.ErrUnavailable,
		route: "frontier", stage: 2, tried: []string{"weak", "strong", "frontier"}, skipped: []string{"strong"},
		reason: weakLow + "; stage strong unavailable (local model unavailable); skipped", escalated: true, cloudCalls: 1},
	{name: "both down, cloud answers", policy: cascade.PolicyAuto, weakErr: models.ErrUnavailable, strongErr: models.ErrUnavailable,
		route: "frontier", stage: 2, tried: []string{"weak", "strong", "frontier"}, skipped: []string{"weak", "strong"},
		reason: "stage weak unavailable (local model unavailable); skipped; stage strong unavailable (local model unavailable); skipped", escalated: true, cloudCalls: 1},
	{name: "cloud unreachable, deferred", policy: cascade.PolicyAuto, weak: 0.2, strong: 0.3, cloudErr: cloudOffline,
		route: "strong", stage: 1, tried: []string{"weak", "strong"},
		reason:    weakLow + "; " + strongLow + "; cloud not called: offline mode is on; answered locally; deferred as dfr_1",
		escalated: true, deferred: true, cloudCalls: 1},
	{name: "weak unscorable", policy: cascade.PolicyAuto, weak: 0, strong: 0.8,
		route: "strong", stage: 1, tried: []string{"weak", "strong"},
		reason: "stage weak: could not score the local answer (no token logprobs to score); " + strongHigh},
	{name: "policy local, last local stage answers", policy: cascade.PolicyLocal, weak: 0.2, strong: 0.3,
		route: "strong", stage: 1, tried: []string{"weak", "strong"}, reason: "policy local; " + weakLow + "; " + strongLow},
	{name: "policy local, weak accepts", policy: cascade.PolicyLocal, weak: 0.9, strong: 0.3,
		route: "weak", stage: 0, tried: []string{"weak"}, reason: "policy local; " + weakHigh},
	{name: "policy local, strong down: weak's answer", policy: cascade.PolicyLocal, weak: 0.2, strongErr: models.ErrUnavailable,
		route: "weak", stage: 0, tried: []string{"weak", "strong"}, skipped: []string{"strong"},
		reason: "policy local; " + weakLow + "; stage strong unavailable (local model unavailable); skipped"},
	{name: "tools: the stage that takes them answers", policy: cascade.PolicyAuto, tools: true, strongTools: true, weak: 0.9, strong: 0.8,
		route: "strong", stage: 1, tried: []string{"weak", "strong"}, skipped: []string{"weak"},
		reason: "stage weak skipped: the request has tools, which the local model weak does not support (its backend does not report \"tools\"); " + strongHigh},
	{name: "tools, policy local: the stage that takes them answers", policy: cascade.PolicyLocal, tools: true, strongTools: true, weak: 0.9, strong: 0.3,
		route: "strong", stage: 1, tried: []string{"weak", "strong"}, skipped: []string{"weak"},
		reason: "policy local; stage weak skipped: the request has tools, which the local model weak does not support (its backend does not report \"tools\"); " + strongLow},
	{name: "tools no local stage takes: the cloud", policy: cascade.PolicyAuto, tools: true, weak: 0.9, strong: 0.8,
		route: "frontier", stage: 2, tried: []string{"frontier"}, escalated: true, cloudCalls: 1,
		reason: "the request has tools, which the local model weak does not support (its backend does not report \"tools\"); sent to the cloud"},
	{name: "prompt too long for the first model: the next stage answers", policy: cascade.PolicyAuto, tooLong: true, weak: 0.9, strong: 0.8,
		route: "strong", stage: 1, tried: []string{"weak", "strong"}, skipped: []string{"weak"},
		reason: "stage weak skipped: prompt has 95 tokens (+10 reserved for the answer), the local context holds 100; " + strongHigh},
	{name: "prompt too long for the first model, the next below its threshold: the cloud", policy: cascade.PolicyAuto, tooLong: true, weak: 0.9, strong: 0.3,
		route: "frontier", stage: 2, tried: []string{"weak", "strong", "frontier"}, skipped: []string{"weak"}, escalated: true, cloudCalls: 1,
		reason: "stage weak skipped: prompt has 95 tokens (+10 reserved for the answer), the local context holds 100; " + strongLow},
	{name: "policy local, prompt too long for the first model: the next stage answers", policy: cascade.PolicyLocal, tooLong: true, weak: 0.9, strong: 0.3,
		route: "strong", stage: 1, tried: []string{"weak", "strong"}, skipped: []string{"weak"},
		reason: "policy local; stage weak skipped: prompt has 95 tokens (+10 reserved for the answer), the local context holds 100; " + strongLow},
	{name: "policy cloud", policy: cascade.PolicyCloud, weak: 0.9, strong: 0.8,
		route: "frontier", stage: 2, tried: []string{"frontier"}, reason: "policy cloud", cloudCalls: 1},
	{name: "force_local: the next local stage, not the cloud", policy: cascade.PolicyAuto, rules: resources.ActionForceLocal, weak: 0.2, strong: 0.3,
		route: "strong", stage: 1, tried: []string{"weak", "strong"},
		reason: weakLow + "; " + strongLow + "; resource rules offline: force_local: not escalated"},
}

func TestStages(t *testing.T) {
	for _, mode := range []string{"answer", "stream"} {
		for _, r := range stageRows {
			t.Run(mode+"/"+r.name, func(t *testing.T) { r.check(t, mode) })
		}
	}
}

func (r stageRow) check(t *testing.T, mode string) {
	c, provider := r.setup(t)
	req := cascade.Request{Messages: []models.Message{{Role: "user", Content: "question"}}, MaxTokens: reserve}
	if r.tools {
		req.Options.Tools = []models.Tool{{Name: "get_weather"}}
	}
	var (
		res *cascade.Result
		err error
		e   recorder
	)
	if mode == "answer" {
		res, err = c.Answer(context.Background(), r.policy, req)
	} else {
		res, err = c.Stream(context.Background(), r.policy, req, &e)
	}
	if err != nil {
		t.Fatal(err)
	}
	d := res.Decision
	if d.Route != r.route || d.Stage != r.stage || d.Escalated != r.escalated || d.Deferred != r.deferred {
		t.Errorf("route %s stage %d escalated %v deferred %v, want %s %d %v %v", d.Route, d.Stage, d.Escalated, d.Deferred, r.route, r.stage, r.escalated, r.deferred)
	}
	if d.Reason != r.reason {
		t.Errorf("reason\n %q, want\n %q", d.Reason, r.reason)
	}
	var tried, skipped []string
	for _, s := range d.Stages {
		tried = append(tried, s.Name)
		if s.Skipped != "" {
			skipped = append(skipped, s.Name)
		} else if s.Name != "frontier" && (s.Score == nil) != (s.Name == "weak" && r.weak == 0 || s.Name == "strong" && r.strong == 0) {
			t.Errorf("stage %s score %v", s.Name, s.Score)
		}
	}
	if !slices.Equal(tried, r.tried) || !slices.Equal(skipped, r.skipped) {
		t.Errorf("stages tried %v skipped %v, want %v %v", tried, skipped, r.tried, r.skipped)
	}
	if got := provider.Calls(); got != r.cloudCalls {
		t.Errorf("cloud calls %d, want %d", got, r.cloudCalls)
	}
	want := map[string]string{"weak": "weak answer", "strong": "strong answer", "frontier": "cloud answer"}[r.route]
	if res.Content != want {
		t.Errorf("content %q, want %q", res.Content, want)
	}
	if mode == "stream" && (e.begins != 1 || e.text.String() != want) {
		t.Errorf("streamed %d begins and %q, want 1 and %q", e.begins, e.text.String(), want)
	}
}

func (r stageRow) setup(t *testing.T) (*cascade.Cascade, *cloudmock.Provider) {
	t.Helper()
	model := func(name string, score float64, err error) *mock.Model {
		return &mock.Model{ModelName: name, ChatFunc: func(context.Context, models.Request) (*models.Response, error) {
			if err != nil {
				return nil, err
			}
			resp := &models.Response{Content: name + " answer", FinishReason: "stop"}
			if score > 0 {
				resp.Tokens = mock.Tokens(resp.Content, math.Log(score))
			}
			return resp, nil
		}}
	}
	strong := model("strong", r.strong, r.strongErr)
	if r.strongTools {
		strong.Caps = []string{models.CapabilityTools}
	}
	provider := &cloudmock.Provider{Answer: cloud.Response{Content: "cloud answer"}}
	if r.cloudErr != nil {
		provider.CompleteFunc = func(context.Context, cloud.Request) (*cloud.Response, error) { return nil, r.cloudErr }
		provider.StreamFunc = func(context.Context, cloud.Request, cloud.DeltaFunc) (*cloud.Response, error) { return nil, r.cloudErr }
	}
	scorer, err := uq.New(uq.MeanLogprob)
	if err != nil {
		t.Fatal(err)
	}
	routing := cascade.Routing{Scorer: scorer, Threshold: 0.5, Stages: []cascade.Routing{{Scorer: scorer, Threshold: 0.6}}}
	opts := cascade.Options{
		LocalName: "weak", CloudName: "frontier",
		Stages:   []cascade.Stage{{Name: "strong", Model: strong}},
		Gate:     gate(r.cloudErr == nil),
		Deferrer: &outboxStub{},
	}
	if r.energy > 0 {
		opts.Energy = fixedMeter(r.energy)
	}
	if r.tooLong {
		opts.Context = cascade.ContextCheck{Counter: fixedCount(tooLong), Length: ctxLength}
	}
	if r.rules != "" {
		opts.Resources = verdict{Action: r.rules, Fired: []string{"offline"}}
	}
	c, err := cascade.New(model("weak", r.weak, r.weakErr), provider, routing, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, provider
}

// A routing without one entry per stage is refused.
func TestStagesNeedRoutings(t *testing.T) {
	scorer, _ := uq.New(uq.MeanLogprob)
	opts := cascade.Options{Stages: []cascade.Stage{{Name: "strong", Model: &mock.Model{}}}}
	if _, err := cascade.New(&mock.Model{}, &cloudmock.Provider{}, cascade.Routing{Scorer: scorer}, opts); err == nil {
		t.Fatal("a stage without a routing was accepted")
	}
	c, err := cascade.New(&mock.Model{}, &cloudmock.Provider{}, cascade.Routing{Scorer: scorer, Stages: []cascade.Routing{{Scorer: scorer}}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetRouting(cascade.Routing{Scorer: scorer}); err == nil || len(c.Routing().Stages) != 1 {
		t.Fatalf("SetRouting without the stage's routing: %v", err)
	}
	if got := c.StageNames(); !slices.Equal(got, []string{"local", "strong", "cloud"}) {
		t.Errorf("stage names %v", got)
	}
}

// fixedMeter measures every generation as j joules.
type fixedMeter float64

func (j fixedMeter) Measure(_ context.Context, fn func() error) (float64, bool, error) {
	return float64(j), true, fn()
}

// The energy and the local latency of an answer are those of every local
// stage tried: a stage's own on cascade.stages, their sum on the result.
func TestStagesEnergyAndLatency(t *testing.T) {
	for _, tc := range []struct {
		name         string
		weak, strong float64
		route        string
		stages       int
	}{
		{"weak accepts", 0.9, 0.8, "weak", 1},
		{"strong accepts", 0.2, 0.8, "strong", 2},
		{"cloud answers", 0.2, 0.3, "frontier", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := stageRow{weak: tc.weak, strong: tc.strong, energy: 1.5}.setup(t)
			req := cascade.Request{Messages: []models.Message{{Role: "user", Content: "question"}}, MaxTokens: reserve}
			res, err := c.Answer(context.Background(), cascade.PolicyAuto, req)
			if err != nil {
				t.Fatal(err)
			}
			d := res.Decision
			if d.Route != tc.route || len(d.Stages) < tc.stages {
				t.Fatalf("route %s, stages %+v", d.Route, d.Stages)
			}
			var ms float64
			for _, st := range d.Stages[:tc.stages] {
				if st.EnergyJ == nil || *st.EnergyJ != 1.5 {
					t.Errorf("stage %s energy %v, want 1.5", st.Name, st.EnergyJ)
				}
				ms += st.LatencyMS
			}
			if res.LocalEnergy == nil || *res.LocalEnergy != 1.5*float64(tc.stages) {
				t.Errorf("local energy %v, want %v", res.LocalEnergy, 1.5*float64(tc.stages))
			}
			if got := float64(res.LocalLatency.Microseconds()) / 1000; math.Abs(got-ms) > 0.01*float64(tc.stages) {
				t.Errorf("local latency %v ms, the stages' %v ms", got, ms)
			}
		})
	}
}
