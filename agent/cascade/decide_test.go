package cascade_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/agent/admission"
	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/resources"
	"github.com/edgecascade/edgecascade/cloud"
	cloudmock "github.com/edgecascade/edgecascade/cloud/mock"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/mock"
	"github.com/edgecascade/edgecascade/uq"
)

// The routing table: every way a request can be decided, with the fakes,
// in milliseconds. Each row runs through Answer and through Stream.

const (
	threshold = 0.5
	ctxLength = 100 // the local context, in tokens
	reserve   = 10  // max_tokens of every request
	fits      = 20  // prompt tokens that fit
	tooLong   = 95  // prompt tokens that do not (95+10 > 100)
)

// Cloud outcomes.
var (
	cloud503     = &cloud.Error{Provider: "mock", Status: 503, Err: errors.New("overloaded")}
	cloud400     = &cloud.Error{Provider: "mock", Status: 400, Err: errors.New("bad request")}
	cloudOffline = &cloud.NotCalledError{Err: cloud.ErrOffline, Reason: "offline mode is on"}
	cloudBudget  = &cloud.NotCalledError{Err: cloud.ErrBudget, Reason: "daily budget spent"}
)

// Local outcomes other than an answer.
var (
	localDown  = models.ErrUnavailable
	localBusy  = &admission.BusyError{Running: 1, MaxConcurrent: 1}
	localBroke = errors.New("backend exploded")
)

type row struct {
	name   string
	policy cascade.Policy
	// rules is the resource rules' action ("" for none); fired names the
	// rule that fired (none when empty).
	rules resources.Action
	fired string
	// closed closes the gate (the cloud may not be called).
	closed bool
	// prompt is the prompt's token count (fits when 0).
	prompt int
	// pregen, when > 0, is the pre-generation probe's p(local right)
	// (threshold 0.3).
	pregen float64
	// score is the local answer's mean token probability; 0 gives an
	// answer without tokens (unscorable). localErr fails the local model.
	score    float64
	note     string
	localErr error
	// cloudErr fails the cloud (nil answers); started fails a stream after
	// its first text (Stream only).
	cloudErr error
	started  bool
	// noDefer turns deferral off; deferErr fails the outbox.
	noDefer  bool
	deferErr error
	// only runs the row through "answer" or "stream" only.
	only string
	// json asks for a JSON answer (the fake's answer is plain text).
	json bool
	// tools offers a tool (the local model then answers with a tool call
	// besides its text); image puts an image in the question; caps are the
	// capabilities the local model reports, capsErr fails reading them.
	tools, image bool
	caps         []string
	capsErr      error

	want want
}

type want struct {
	route     string
	escalated bool
	deferred  bool
	failed    bool // EscalationFailed
	cause     cascade.Kind
	reason    string
	// err, when set, says the call fails and how.
	err func(error) bool
	// deferredReason is the reason the outbox keeps, when something is
	// deferred.
	deferredReason string
	localCalls     int
	cloudCalls     int
}

func isDeferred(err error) bool {
	var de *cascade.DeferredError
	return errors.As(err, &de) && de.ID == "dfr_1"
}

func errIs(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func isUnsupported(capability string) func(error) bool {
	return func(err error) bool {
		var ue *cascade.UnsupportedError
		return errors.As(err, &ue) && ue.Capability == capability
	}
}

func isContextLength(err error) bool {
	var cl *cascade.ContextLengthError
	return errors.As(err, &cl)
}

const (
	high = "mean_logprob score 0.900 >= threshold 0.500"
	low  = "mean_logprob score 0.200 < threshold 0.500"
)

var rows = []row{
	// Policy cloud: the cloud only, never deferred.
	{name: "cloud", policy: cascade.PolicyCloud, want: want{route: "cloud", reason: "policy cloud", cloudCalls: 1}},
	{name: "cloud unavailable", policy: cascade.PolicyCloud, cloudErr: cloud503,
		want: want{err: errIs(cloud.ErrUnavailable), cloudCalls: 1}},

	// Policy local: the score is reported, never acted on.
	{name: "local confident", policy: cascade.PolicyLocal, score: 0.9,
		want: want{route: "local", reason: "policy local; " + high, localCalls: 1}},
	{name: "local not confident", policy: cascade.PolicyLocal, score: 0.2,
		want: want{route: "local", reason: "policy local; " + low, cause: cascade.CauseLowConfidence, localCalls: 1}},
	{name: "local unscorable", policy: cascade.PolicyLocal,
		want: want{route: "local", reason: "policy local; could not score the local answer (no token logprobs to score)", cause: cascade.CauseUnscorable, localCalls: 1}},
	{name: "local too long", policy: cascade.PolicyLocal, prompt: tooLong, score: 0.9, want: want{err: isContextLength}},
	{name: "local down", policy: cascade.PolicyLocal, localErr: localDown, want: want{err: errIs(models.ErrUnavailable), localCalls: 1}},

	// Auto: the score decides.
	{name: "auto confident", policy: cascade.PolicyAuto, score: 0.9,
		want: want{route: "local", reason: high, localCalls: 1}},
	{name: "auto confident with a note", policy: cascade.PolicyAuto, score: 0.9, note: "self-ref token <CN>",
		want: want{route: "local", reason: high + "; self-ref token <CN>", localCalls: 1}},
	{name: "auto low confidence", policy: cascade.PolicyAuto, score: 0.2,
		want: want{route: "cloud", escalated: true, cause: cascade.CauseLowConfidence, reason: low, localCalls: 1, cloudCalls: 1}},
	{name: "auto JSON asked, answer not JSON", policy: cascade.PolicyAuto, score: 0.9, json: true,
		want: want{route: "cloud", escalated: true, cause: cascade.CauseFormat, localCalls: 1, cloudCalls: 1,
			reason: high + "; the local answer is not valid JSON: escalating whatever the score"}},
	{name: "auto unscorable", policy: cascade.PolicyAuto,
		want: want{route: "cloud", escalated: true, cause: cascade.CauseUnscorable, reason: "could not score the local answer (no token logprobs to score)", localCalls: 1, cloudCalls: 1}},

	// Auto: the escalation fails; the local answer is the answer.
	{name: "escalation unavailable", policy: cascade.PolicyAuto, score: 0.2, cloudErr: cloud503,
		want: want{route: "local", escalated: true, deferred: true, failed: true, cause: cascade.CauseLowConfidence,
			reason:         low + "; escalation failed (cloud answer: cloud provider mock: status 503: overloaded); answered locally; deferred as dfr_1",
			deferredReason: low + "; escalation failed (cloud answer: cloud provider mock: status 503: overloaded); answered locally",
			localCalls:     1, cloudCalls: 1}},
	{name: "escalation offline", policy: cascade.PolicyAuto, score: 0.2, cloudErr: cloudOffline,
		want: want{route: "local", escalated: true, deferred: true, failed: true, cause: cascade.CauseLowConfidence,
			reason:         low + "; cloud not called: offline mode is on; answered locally; deferred as dfr_1",
			deferredReason: low + "; cloud not called: offline mode is on; answered locally",
			localCalls:     1, cloudCalls: 1}},
	{name: "escalation over budget", policy: cascade.PolicyAuto, score: 0.2, cloudErr: cloudBudget,
		want: want{route: "local", escalated: true, deferred: true, failed: true, cause: cascade.CauseLowConfidence,
			reason:         low + "; cloud not called: daily budget spent; answered locally; deferred as dfr_1",
			deferredReason: low + "; cloud not called: daily budget spent; answered locally",
			localCalls:     1, cloudCalls: 1}},
	{name: "escalation refused 4xx", policy: cascade.PolicyAuto, score: 0.2, cloudErr: cloud400,
		want: want{route: "local", escalated: true, failed: true, cause: cascade.CauseLowConfidence,
			reason:     low + "; escalation failed (cloud answer: cloud provider mock: status 400: bad request); answered locally",
			localCalls: 1, cloudCalls: 1}},
	{name: "escalation unavailable, deferral off", policy: cascade.PolicyAuto, score: 0.2, cloudErr: cloud503, noDefer: true,
		want: want{route: "local", escalated: true, failed: true, cause: cascade.CauseLowConfidence,
			reason:     low + "; escalation failed (cloud answer: cloud provider mock: status 503: overloaded); answered locally; not deferred (deferral off for this request)",
			localCalls: 1, cloudCalls: 1}},
	{name: "escalation unavailable, outbox fails", policy: cascade.PolicyAuto, score: 0.2, cloudErr: cloud503, deferErr: errors.New("disk full"),
		want: want{route: "local", escalated: true, failed: true, cause: cascade.CauseLowConfidence,
			reason:     low + "; escalation failed (cloud answer: cloud provider mock: status 503: overloaded); answered locally; could not defer it (disk full)",
			localCalls: 1, cloudCalls: 1}},
	{name: "escalation stream started", policy: cascade.PolicyAuto, score: 0.2, cloudErr: cloud503, started: true, only: "stream",
		want: want{err: cascade.StreamStarted, localCalls: 1, cloudCalls: 1}},

	// Auto: the local model cannot answer.
	{name: "local unavailable", policy: cascade.PolicyAuto, localErr: localDown,
		want: want{route: "cloud", escalated: true, cause: cascade.CauseLocalUnavailable,
			reason: "local model unavailable (local model unavailable); answered by the cloud", localCalls: 1, cloudCalls: 1}},
	{name: "local busy", policy: cascade.PolicyAuto, localErr: localBusy,
		want: want{route: "cloud", escalated: true, cause: cascade.CauseLocalBusy,
			reason: "local model unavailable (" + localBusy.Error() + "); answered by the cloud", localCalls: 1, cloudCalls: 1}},
	{name: "local and cloud unavailable", policy: cascade.PolicyAuto, localErr: localDown, cloudErr: cloud503,
		want: want{err: isDeferred,
			deferredReason: "local model unavailable (local model unavailable); answered by the cloud; cloud answer: cloud provider mock: status 503: overloaded",
			localCalls:     1, cloudCalls: 1}},
	{name: "local and cloud unavailable, deferral off", policy: cascade.PolicyAuto, localErr: localDown, cloudErr: cloud503, noDefer: true,
		want: want{err: errIs(cloud.ErrUnavailable), localCalls: 1, cloudCalls: 1}},
	// The outbox refuses (full, or the disk is): the error says so.
	{name: "local and cloud unavailable, outbox fails", policy: cascade.PolicyAuto, localErr: localDown, cloudErr: cloud503, deferErr: errors.New("outbox full"),
		want: want{err: func(err error) bool {
			return errors.Is(err, cloud.ErrUnavailable) && !isDeferred(err) && strings.Contains(err.Error(), "could not defer the request (outbox full)")
		}, localCalls: 1, cloudCalls: 1}},
	{name: "local broken", policy: cascade.PolicyAuto, localErr: localBroke, want: want{err: errIs(localBroke), localCalls: 1}},

	// Tools and images: the local model answers them only when its backend
	// reports the capability; else auto sends them to the cloud and local
	// refuses them.
	{name: "auto tools, local has tools", policy: cascade.PolicyAuto, tools: true, caps: []string{"completion", "tools"}, score: 0.9,
		want: want{route: "local", reason: high, localCalls: 1}},
	{name: "auto tools, local has tools, not confident", policy: cascade.PolicyAuto, tools: true, caps: []string{"tools"}, score: 0.2,
		want: want{route: "cloud", escalated: true, cause: cascade.CauseLowConfidence, reason: low, localCalls: 1, cloudCalls: 1}},
	{name: "auto tools, local without tools", policy: cascade.PolicyAuto, tools: true, caps: []string{"completion"}, score: 0.9,
		want: want{route: "cloud", escalated: true, cause: cascade.CauseCapability,
			reason: `the request has tools, which the local model mock does not support (its backend does not report "tools"); sent to the cloud`, cloudCalls: 1}},
	{name: "auto tools, capabilities unknown", policy: cascade.PolicyAuto, tools: true, capsErr: errors.New("show failed"), score: 0.9,
		want: want{route: "cloud", escalated: true, cause: cascade.CauseCapability,
			reason: "the request has tools, and the local model mock's capabilities could not be read (show failed); sent to the cloud", cloudCalls: 1}},
	{name: "auto tools, local without tools, cloud offline", policy: cascade.PolicyAuto, tools: true, score: 0.9, cloudErr: cloudOffline,
		want: want{err: isDeferred,
			deferredReason: `the request has tools, which the local model mock does not support (its backend does not report "tools"); sent to the cloud; cloud answer: cloud offline: offline mode is on`,
			cloudCalls:     1}},
	{name: "auto tools, local without tools, rule forces local", policy: cascade.PolicyAuto, tools: true, rules: resources.ActionForceLocal, fired: "offline", score: 0.9,
		want: want{route: "cloud", escalated: true, cause: cascade.CauseCapability,
			reason: `the request has tools, which the local model mock does not support (its backend does not report "tools"); sent to the cloud`, cloudCalls: 1}},
	{name: "auto image, local has vision", policy: cascade.PolicyAuto, image: true, caps: []string{"vision"}, score: 0.9,
		want: want{route: "local", reason: high, localCalls: 1}},
	{name: "auto image, local without vision", policy: cascade.PolicyAuto, image: true, caps: []string{"tools"}, score: 0.9,
		want: want{route: "cloud", escalated: true, cause: cascade.CauseCapability,
			reason: `the request has images, which the local model mock does not support (its backend does not report "vision"); sent to the cloud`, cloudCalls: 1}},
	{name: "local tools, local has tools", policy: cascade.PolicyLocal, tools: true, caps: []string{"tools"}, score: 0.9,
		want: want{route: "local", reason: "policy local; " + high, localCalls: 1}},
	{name: "local tools, local without tools", policy: cascade.PolicyLocal, tools: true, score: 0.9, want: want{err: isUnsupported("tools")}},
	{name: "local image, local without vision", policy: cascade.PolicyLocal, image: true, caps: []string{"tools"}, score: 0.9, want: want{err: isUnsupported("vision")}},
	{name: "cloud tools", policy: cascade.PolicyCloud, tools: true, want: want{route: "cloud", reason: "policy cloud", cloudCalls: 1}},

	// Auto: the preflight skips the local model.
	{name: "too long", policy: cascade.PolicyAuto, prompt: tooLong, score: 0.9,
		want: want{route: "cloud", escalated: true, cause: cascade.CauseContextLength,
			reason: "prompt has 95 tokens (+10 reserved for the answer), the local context holds 100; sent to the cloud", cloudCalls: 1}},
	{name: "too long, cloud offline", policy: cascade.PolicyAuto, prompt: tooLong, score: 0.9, cloudErr: cloudOffline,
		want: want{err: isDeferred,
			deferredReason: "prompt has 95 tokens (+10 reserved for the answer), the local context holds 100; sent to the cloud; cloud answer: cloud offline: offline mode is on",
			cloudCalls:     1}},
	{name: "pregen skips", policy: cascade.PolicyAuto, pregen: 0.1, score: 0.9,
		want: want{route: "cloud", escalated: true, cause: cascade.CausePregenProbe,
			reason: "pre-generation probe: p(local right) 0.100 <= 0.300; skipped local generation", cloudCalls: 1}},
	{name: "pregen passes", policy: cascade.PolicyAuto, pregen: 0.8, score: 0.9,
		want: want{route: "local", reason: high, localCalls: 1}},
	{name: "pregen skips, gate closed", policy: cascade.PolicyAuto, pregen: 0.1, score: 0.9, closed: true,
		want: want{route: "local", reason: high, localCalls: 1}},

	// Auto: resource rules.
	{name: "prefer_cloud", policy: cascade.PolicyAuto, rules: resources.ActionPreferCloud, fired: "battery", score: 0.9,
		want: want{route: "cloud", escalated: true, cause: cascade.CauseResourceRule,
			reason: "resource rules battery: prefer_cloud; local generation skipped", cloudCalls: 1}},
	// The cloud a rule preferred failed: a confident local answer is the
	// answer; an unsure one is an escalation that failed, deferred like any
	// other (issue 14 item 4), without asking the failed cloud again.
	{name: "prefer_cloud, cloud fails, confident", policy: cascade.PolicyAuto, rules: resources.ActionPreferCloud, fired: "battery", score: 0.9, cloudErr: cloud503,
		want: want{route: "local",
			reason:     "resource rules battery: prefer_cloud; cloud failed (cloud answer: cloud provider mock: status 503: overloaded); answered locally; " + high,
			localCalls: 1, cloudCalls: 1}},
	{name: "prefer_cloud, cloud fails", policy: cascade.PolicyAuto, rules: resources.ActionPreferCloud, fired: "battery", score: 0.2, cloudErr: cloud503,
		want: want{route: "local", escalated: true, failed: true, deferred: true, cause: cascade.CauseLowConfidence,
			reason:         "resource rules battery: prefer_cloud; cloud failed (cloud answer: cloud provider mock: status 503: overloaded); answered locally; " + low + "; deferred as dfr_1",
			deferredReason: "resource rules battery: prefer_cloud; cloud failed (cloud answer: cloud provider mock: status 503: overloaded); answered locally; " + low,
			localCalls:     1, cloudCalls: 1}},
	{name: "prefer_cloud, cloud offline", policy: cascade.PolicyAuto, rules: resources.ActionPreferCloud, fired: "battery", score: 0.2, cloudErr: cloudOffline,
		want: want{route: "local", escalated: true, failed: true, deferred: true, cause: cascade.CauseLowConfidence,
			reason:         "resource rules battery: prefer_cloud; cloud failed (cloud answer: cloud offline: offline mode is on); answered locally; " + low + "; deferred as dfr_1",
			deferredReason: "resource rules battery: prefer_cloud; cloud failed (cloud answer: cloud offline: offline mode is on); answered locally; " + low,
			localCalls:     1, cloudCalls: 1}},
	{name: "prefer_cloud, cloud fails, local down", policy: cascade.PolicyAuto, rules: resources.ActionPreferCloud, fired: "battery", localErr: localDown, cloudErr: cloud503,
		want: want{err: isDeferred,
			deferredReason: "local model unavailable (local model unavailable); answered by the cloud; cloud answer: cloud provider mock: status 503: overloaded",
			localCalls:     1, cloudCalls: 2}},
	{name: "skip_local", policy: cascade.PolicyAuto, rules: resources.ActionSkipLocal, fired: "hot", score: 0.9,
		want: want{route: "cloud", escalated: true, cause: cascade.CauseResourceRule,
			reason: "resource rules hot: skip_local; local generation skipped", cloudCalls: 1}},
	{name: "skip_local, cloud unavailable", policy: cascade.PolicyAuto, rules: resources.ActionSkipLocal, fired: "hot", cloudErr: cloud503,
		want: want{err: isDeferred,
			deferredReason: "resource rules hot: skip_local; local generation skipped; cloud answer: cloud provider mock: status 503: overloaded",
			cloudCalls:     1}},
	{name: "skip_local, cloud refused", policy: cascade.PolicyAuto, rules: resources.ActionSkipLocal, fired: "hot", cloudErr: cloud400,
		want: want{err: func(err error) bool { return !errors.Is(err, cloud.ErrUnavailable) && !isDeferred(err) }, cloudCalls: 1}},
	{name: "skip_local, stream started", policy: cascade.PolicyAuto, rules: resources.ActionSkipLocal, fired: "hot", cloudErr: cloud503, started: true, only: "stream",
		want: want{err: cascade.StreamStarted, cloudCalls: 1}},
	{name: "force_local, confident", policy: cascade.PolicyAuto, rules: resources.ActionForceLocal, fired: "offline", score: 0.9,
		want: want{route: "local", reason: high + "; resource rules offline: force_local", localCalls: 1}},
	{name: "force_local, not confident", policy: cascade.PolicyAuto, rules: resources.ActionForceLocal, fired: "offline", score: 0.2,
		want: want{route: "local", cause: cascade.CauseLowConfidence, reason: low + "; resource rules offline: force_local: not escalated", localCalls: 1}},
	{name: "force_local, too long", policy: cascade.PolicyAuto, rules: resources.ActionForceLocal, fired: "offline", prompt: tooLong, score: 0.9,
		want: want{route: "local", reason: high + "; resource rules offline: force_local", localCalls: 1}},
	{name: "force_local, not confident, gate closed", policy: cascade.PolicyAuto, rules: resources.ActionForceLocal, fired: "offline", score: 0.2, closed: true, cloudErr: cloudOffline,
		want: want{route: "local", escalated: true, deferred: true, failed: true, cause: cascade.CauseLowConfidence,
			reason:         low + "; cloud not called: offline mode is on; answered locally; deferred as dfr_1; resource rules offline: force_local",
			deferredReason: low + "; cloud not called: offline mode is on; answered locally",
			localCalls:     1, cloudCalls: 1}},
	{name: "rule without effect, confident", policy: cascade.PolicyAuto, fired: "battery", score: 0.9, closed: true,
		want: want{route: "local", reason: high + "; resource rules battery fired; no action applies offline", localCalls: 1}},
	{name: "rule without effect, escalation not called", policy: cascade.PolicyAuto, fired: "battery", score: 0.2, closed: true, cloudErr: cloudOffline, noDefer: true,
		want: want{route: "local", escalated: true, failed: true, cause: cascade.CauseLowConfidence,
			reason:     low + "; cloud not called: offline mode is on; answered locally; not deferred (deferral off for this request); resource rules battery fired; no action applies offline",
			localCalls: 1, cloudCalls: 1}},
}

func TestDecide(t *testing.T) {
	for _, mode := range []string{"answer", "stream"} {
		for _, r := range rows {
			if r.only != "" && r.only != mode {
				continue
			}
			t.Run(mode+"/"+r.name, func(t *testing.T) { r.check(t, mode) })
		}
	}
}

// Every escalation cause of the metrics is decided by some row.
func TestDecideCoversEveryCause(t *testing.T) {
	for _, k := range cascade.EscalationCauses {
		if !slices.ContainsFunc(rows, func(r row) bool { return r.want.cause == k && r.want.escalated }) {
			t.Errorf("no row escalates for cause %q", k)
		}
	}
}

func (r row) check(t *testing.T, mode string) {
	local, provider, c, box := r.setup(t)
	req := cascade.Request{Messages: []models.Message{{Role: "user", Content: "question"}}, MaxTokens: reserve, NoDefer: r.noDefer}
	if r.json {
		req.Format = &models.Format{}
	}
	if r.tools {
		req.Tools = []models.Tool{{Name: "get_weather", Parameters: []byte(`{"type":"object"}`)}}
	}
	if r.image {
		req.Messages[0].Images = []models.Image{{Data: []byte("png"), MediaType: "image/png"}}
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
	w := r.want
	if got := local.Calls(); got != w.localCalls {
		t.Errorf("local calls %d, want %d", got, w.localCalls)
	}
	if got := provider.Calls(); got != w.cloudCalls {
		t.Errorf("cloud calls %d, want %d", got, w.cloudCalls)
	}
	if w.deferredReason != "" {
		if box.reason != w.deferredReason {
			t.Errorf("deferred with reason\n %q, want\n %q", box.reason, w.deferredReason)
		}
	} else if box.calls > 0 && box.err == nil {
		t.Errorf("deferred %q, want nothing deferred", box.reason)
	}
	if w.err != nil {
		if err == nil || !w.err(err) {
			t.Fatalf("error %v (%T), want a failure", err, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	d := res.Decision
	if d.Route != w.route || d.Escalated != w.escalated || d.Deferred != w.deferred || res.EscalationFailed != w.failed {
		t.Errorf("route %s escalated %v deferred %v failed %v, want %s %v %v %v",
			d.Route, d.Escalated, d.Deferred, res.EscalationFailed, w.route, w.escalated, w.deferred, w.failed)
	}
	if d.Reason != w.reason {
		t.Errorf("reason\n %q, want\n %q", d.Reason, w.reason)
	}
	if d.Cause() != w.cause {
		t.Errorf("cause %q, want %q", d.Cause(), w.cause)
	}
	if w.deferred && d.DeferredID != "dfr_1" {
		t.Errorf("deferred ID %q", d.DeferredID)
	}
	wantContent := "local answer"
	if d.Route == cascade.RouteCloud {
		wantContent = "cloud answer"
	}
	if res.Content != wantContent {
		t.Errorf("content %q, want %q", res.Content, wantContent)
	}
	if wantCalls := r.tools; len(res.ToolCalls) > 0 != wantCalls {
		t.Errorf("tool calls %v, want some: %v", res.ToolCalls, wantCalls)
	}
	if mode == "stream" {
		if e.begins != 1 || e.text.String() != wantContent {
			t.Errorf("streamed %d begins and %q, want 1 and %q", e.begins, e.text.String(), wantContent)
		}
	}
}

// setup builds the cascade of a row from the shared fakes.
func (r row) setup(t *testing.T) (*mock.Model, *cloudmock.Provider, *cascade.Cascade, *outboxStub) {
	t.Helper()
	local := &mock.Model{Caps: r.caps, CapsErr: r.capsErr, ChatFunc: func(ctx context.Context, req models.Request) (*models.Response, error) {
		if r.localErr != nil {
			return nil, r.localErr
		}
		resp := &models.Response{Content: "local answer", FinishReason: "stop", PromptTokens: 3, CompletionTokens: 2}
		if len(req.Tools) > 0 { // the tools reached the local model
			resp.ToolCalls = []models.ToolCall{{ID: "call_1", Name: req.Tools[0].Name, Arguments: []byte(`{}`)}}
		}
		if r.score > 0 {
			resp.Tokens = mock.Tokens(resp.Content, math.Log(r.score))
		}
		return resp, nil
	}}
	provider := &cloudmock.Provider{
		Answer: cloud.Response{Content: "cloud answer", Usage: cloud.Usage{PromptTokens: 3, CompletionTokens: 2}},
	}
	if r.tools {
		provider.Answer.ToolCalls = []models.ToolCall{{ID: "call_c", Name: "get_weather", Arguments: []byte(`{}`)}}
	}
	if r.cloudErr != nil {
		provider.CompleteFunc = func(context.Context, cloud.Request) (*cloud.Response, error) { return nil, r.cloudErr }
		provider.StreamFunc = func(_ context.Context, _ cloud.Request, fn cloud.DeltaFunc) (*cloud.Response, error) {
			if r.started {
				if err := fn("cloud"); err != nil {
					return nil, err
				}
			}
			return nil, r.cloudErr
		}
	}
	scorer, err := uq.New(uq.MeanLogprob)
	if err != nil {
		t.Fatal(err)
	}
	if r.note != "" {
		scorer = noted{scorer, r.note}
	}
	routing := cascade.Routing{Scorer: scorer, Threshold: threshold}
	if r.pregen > 0 {
		routing.Pregen = &cascade.Pregen{Features: &mock.FeatureSource{}, Predictor: fixedProb(r.pregen), Threshold: 0.3}
	}
	prompt := r.prompt
	if prompt == 0 {
		prompt = fits
	}
	box := &outboxStub{err: r.deferErr}
	opts := cascade.Options{
		TopLogprobs: 5,
		Context:     cascade.ContextCheck{Counter: fixedCount(prompt), Length: ctxLength},
		Gate:        gate(!r.closed),
		Deferrer:    box,
	}
	if r.fired != "" {
		opts.Resources = verdict{Action: r.rules, Fired: []string{r.fired}}
	}
	c, err := cascade.New(local, provider, routing, opts)
	if err != nil {
		t.Fatal(err)
	}
	return local, provider, c, box
}

// recorder is an Emitter that keeps what was streamed.
type recorder struct {
	begins int
	text   strings.Builder
}

func (e *recorder) Begin(cascade.Decision) error { e.begins++; return nil }
func (e *recorder) Delta(s string) error         { e.text.WriteString(s); return nil }

// outboxStub is a Deferrer that keeps the last reason.
type outboxStub struct {
	calls  int
	reason string
	err    error
}

func (o *outboxStub) Defer(_ context.Context, _ cascade.Request, _, reason string) (string, error) {
	o.calls++
	if o.err != nil {
		return "", o.err
	}
	o.reason = reason
	return "dfr_1", nil
}

type gate bool

func (g gate) Allow() (bool, string) { return bool(g), "offline mode is on" }

type verdict resources.Verdict

func (v verdict) Evaluate(context.Context, bool) resources.Verdict { return resources.Verdict(v) }

type fixedCount int

func (n fixedCount) Count(string) (int, error) { return int(n), nil }

type fixedProb float64

func (p fixedProb) Predict(context.Context, []float32) (float64, error) { return float64(p), nil }

// noted adds a note to a scorer's results.
type noted struct {
	uq.Scorer
	note string
}

func (n noted) Score(ctx context.Context, in uq.Input) (uq.Result, error) {
	res, err := n.Scorer.Score(ctx, in)
	res.Note = n.note
	return res, err
}
