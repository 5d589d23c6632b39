package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/events"
	"github.com/edgecascade/edgecascade/agent/httpapi"
	"github.com/edgecascade/edgecascade/agent/outbox"
	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/cloud/budget"
	cloudmock "github.com/edgecascade/edgecascade/cloud/mock"
	"github.com/edgecascade/edgecascade/cloud/openai"
	"github.com/edgecascade/edgecascade/cloud/reach"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/ollama"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
	"github.com/edgecascade/edgecascade/uq"
)

// offlineDaemon is the cascade wired as serve wires it for offline-first
// work: the cloud behind the reachability guard (and a budget), deferred
// escalations in a real outbox, events, over real HTTP. Local: the weak
// model on real Ollama; cloud: the strong model through Ollama's
// OpenAI-compatible API behind a proxy that can play unreachable. With
// offlineOpts.fake, both are the shared fakes instead (no Ollama), and net
// plays the network.
type offlineDaemon struct {
	*httptest.Server
	cloud     *countingProxy
	net       *fakeNet
	direct    cloud.Provider // the cloud without guards, to compare answers
	tracker   *reach.Tracker
	deferrals *outbox.Deferrals
	box       *outbox.Outbox
	events    *events.Broker
}

type offlineOpts struct {
	offline   bool
	threshold float64
	limits    budget.Limits
	resources cascade.ResourcePolicy
	energy    cascade.EnergyMeter
	// fake wires the fakes: local is the fake local model (fakeLocal when
	// nil), the cloud fakeCloud behind a fakeNet.
	fake  bool
	local models.Model
}

// fakeNet is the network between the daemon and the fake cloud: down makes
// the cloud unreachable (every call and probe fails as a refused
// connection would).
type fakeNet struct {
	down     atomic.Bool
	answered atomic.Int64 // calls the cloud answered
	refused  atomic.Int64 // calls and probes refused while down
}

// provider is fakeCloud behind the network.
func (n *fakeNet) provider() *cloudmock.Provider {
	p := fakeCloud()
	answer := p.Answer
	refused := func() error {
		n.refused.Add(1)
		return &cloud.Error{Provider: p.Name(), Err: errors.New("connection refused")}
	}
	p.CompleteFunc = func(context.Context, cloud.Request) (*cloud.Response, error) {
		if n.down.Load() {
			return nil, refused()
		}
		n.answered.Add(1)
		resp := answer
		resp.Provider, resp.Model, resp.FinishReason = p.Name(), p.Model(), "stop"
		return &resp, nil
	}
	p.PingFunc = func(context.Context) error {
		if n.down.Load() {
			return refused()
		}
		return nil
	}
	return p
}

// setCloudDown makes the cloud unreachable, or reachable again.
func (d *offlineDaemon) setCloudDown(down bool) {
	if d.net != nil {
		d.net.down.Store(down)
		return
	}
	d.cloud.down.Store(down)
}

// cloudAnswers is how many calls the cloud answered.
func (d *offlineDaemon) cloudAnswers() int64 {
	if d.net != nil {
		return d.net.answered.Load()
	}
	return d.cloud.calls.Load()
}

func newOfflineDaemon(t *testing.T, o offlineOpts) *offlineDaemon {
	t.Helper()
	d := &offlineDaemon{}
	var (
		local    models.Model
		raw      cloud.Provider
		localURL = "fake://local"
		cloudURL = "fake://cloud"
	)
	if o.fake {
		local = o.local
		if local == nil {
			local = fakeLocal()
		}
		d.net = &fakeNet{}
		raw = d.net.provider()
	} else {
		s := needBed(t)
		var err error
		if local, err = ollama.New(ollama.Config{URL: s.URL, Model: ollamatest.Weak, Timeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
		d.cloud = newCountingProxy(t, s.URL)
		if raw, err = openai.New(openai.Config{BaseURL: d.cloud.URL + "/v1", Model: ollamatest.Strong, Timeout: time.Minute, MaxRetries: 0}); err != nil {
			t.Fatal(err)
		}
		if d.direct, err = openai.New(openai.Config{BaseURL: s.URL + "/v1", Model: ollamatest.Strong, Timeout: time.Minute, MaxRetries: 0}); err != nil {
			t.Fatal(err)
		}
		localURL, cloudURL = s.URL, d.cloud.URL+"/v1"
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	broker := events.NewBroker()
	var deferrals *outbox.Deferrals
	tracker := reach.New(raw, reach.Options{Offline: o.offline, FailureThreshold: 2, ProbeInterval: 50 * time.Millisecond, MaxProbeInterval: 200 * time.Millisecond,
		OnChange: func(st reach.Status) {
			broker.Publish(events.CloudState, st)
			if deferrals != nil && st.State == reach.StateOnline {
				deferrals.Wake()
			}
		}})
	var provider cloud.Provider = reach.NewGuard(raw, tracker)
	gate := cascade.Gates{tracker}
	dir := t.TempDir()
	b, err := budget.Open(filepath.Join(dir, "budget.db"), o.limits, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	provider = budget.NewGuard(provider, b, log)
	gate = append(gate, b)
	box, _, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = box.Close() })
	deferrals = outbox.NewDeferrals(box, provider, gate, broker, outbox.DrainOptions{Rate: 20, Log: log})
	scorer, err := uq.Build(uq.MeanLogprob, uq.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cascade.New(local, provider, cascade.Routing{Scorer: scorer, Threshold: o.threshold},
		cascade.Options{TopLogprobs: 5, Gate: gate, Deferrer: deferrals, Resources: o.resources, Energy: o.energy, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.NewServer(c, httpapi.ServerConfig{Backend: "ollama", LocalURL: localURL, CloudProvider: "openai", CloudURL: cloudURL,
		Deferrals: deferrals, Events: broker, Reach: tracker, Budget: b, EventsKeepalive: time.Second}, log)
	d.Server = httptest.NewServer(srv.Handler())
	t.Cleanup(d.Server.Close)
	d.tracker, d.deferrals, d.box, d.events = tracker, deferrals, box, broker
	return d
}

// run starts the probes and the drain until the test ends.
func (d *offlineDaemon) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { d.tracker.Run(ctx); done <- struct{}{} }()
	go func() { d.deferrals.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
}

type deferredCascade struct {
	cascadeObj
	Deferred   bool   `json:"deferred"`
	DeferredID string `json:"deferred_id"`
}

type deferredAnswer struct {
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
	Cascade deferredCascade `json:"cascade"`
	Error   *struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"error"`
}

func askDeferred(t *testing.T, url string, body map[string]any, header http.Header) (*http.Response, deferredAnswer) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a deferredAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return resp, a
}

func getItem(t *testing.T, url, id string) outbox.DeferredItem {
	t.Helper()
	resp, err := http.Get(url + "/v1/cascade/deferred/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var it outbox.DeferredItem
	if err := json.NewDecoder(resp.Body).Decode(&it); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET deferred %s: %d %v", id, resp.StatusCode, err)
	}
	return it
}

// sseEvents reads server-sent events into a channel as "type data" pairs.
func sseEvents(t *testing.T, url string) <-chan [2]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/cascade/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, ct)
	}
	out := make(chan [2]string, 100)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var typ string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				typ = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				out <- [2]string{typ, v}
			}
		}
	}()
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return out
}

// TestDeferWhileUnreachableThenDrain: with the cloud unreachable, auto
// answers locally at once, marks the answer deferred and keeps the
// escalation; when the cloud comes back the drain sends each item once,
// GET /v1/cascade/deferred/{id} returns the cloud's answer, and the events
// stream says when each is ready.
func TestDeferWhileUnreachableThenDrain(t *testing.T) {
	d := newOfflineDaemon(t, offlineOpts{threshold: 2}) // above every score: every auto answer escalates
	evs := sseEvents(t, d.URL)
	d.cloud.down.Store(true)

	questions := []string{"What is 2+3?", "Name a primary color.", "What is the capital of France?"}
	ids := map[string]string{} // id → question
	locals := map[string]string{}
	for i, q := range questions {
		resp, a := askDeferred(t, d.URL, chatBody("auto", q, false), nil)
		c := a.Cascade
		if resp.StatusCode != 200 || c.Route != "local" || !c.Deferred || !outbox.ValidID(c.DeferredID) {
			t.Fatalf("%q while unreachable: %d %+v %+v", q, resp.StatusCode, c, a.Error)
		}
		if resp.Header.Get("X-Cascade-Deferred-Id") != c.DeferredID {
			t.Fatalf("header X-Cascade-Deferred-Id %q, want %q", resp.Header.Get("X-Cascade-Deferred-Id"), c.DeferredID)
		}
		// The first two calls fail and open the breaker; after that the
		// cloud is not called at all.
		want := "escalation failed"
		if i >= 2 {
			want = "cloud not called: cloud unreachable after 2 consecutive failures"
		}
		if !strings.Contains(c.Reason, want) || !strings.Contains(c.Reason, "deferred as "+c.DeferredID) {
			t.Fatalf("reason %q, want %q and the deferred id", c.Reason, want)
		}
		ids[c.DeferredID] = q
		locals[c.DeferredID] = a.Choices[0].Message.Content
		it := getItem(t, d.URL, c.DeferredID)
		if it.State != outbox.StateQueued || it.LocalAnswer != locals[c.DeferredID] || it.Answer != nil {
			t.Fatalf("queued item %+v", it)
		}
	}
	if n := d.cloud.refused.Load(); n != 2 {
		t.Fatalf("the cloud saw %d connection attempts, want 2 (the breaker opens after 2)", n)
	}

	// Streams defer too.
	resp, raw := post(t, d.URL+"/v1/chat/completions", chatBody("auto", "What is 10 minus 4?", true))
	var streamID string
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "data: "); ok && v != "[DONE]" {
			var ch struct {
				Cascade *deferredCascade `json:"cascade"`
			}
			_ = json.Unmarshal([]byte(v), &ch)
			if ch.Cascade != nil && ch.Cascade.Deferred {
				streamID = ch.Cascade.DeferredID
			}
		}
	}
	if resp.StatusCode != 200 || streamID == "" || resp.Header.Get("X-Cascade-Deferred-Id") != streamID {
		t.Fatalf("stream while unreachable: %d, deferred id %q, body %s", resp.StatusCode, streamID, raw)
	}
	ids[streamID] = "What is 10 minus 4?"

	// Deferral off for one request: answered locally, nothing kept.
	_, a := askDeferred(t, d.URL, chatBody("auto", "Name a fruit.", false), http.Header{"X-Cascade-Defer": {"false"}})
	if a.Cascade.Route != "local" || a.Cascade.Deferred || !strings.Contains(a.Cascade.Reason, "not deferred") {
		t.Fatalf("deferral off: %+v", a.Cascade)
	}
	body := chatBody("auto", "Name a fruit.", false)
	body["cascade"] = map[string]any{"defer": false}
	if _, a := askDeferred(t, d.URL, body, nil); a.Cascade.Deferred {
		t.Fatalf("cascade.defer false in the body: %+v", a.Cascade)
	}
	if resp, a := askDeferred(t, d.URL, chatBody("auto", "x", false), http.Header{"X-Cascade-Defer": {"maybe"}}); resp.StatusCode != 400 || a.Error == nil {
		t.Fatalf("bad X-Cascade-Defer: %d", resp.StatusCode)
	}
	// Policy cloud cannot be answered: 503 with Retry-After.
	resp, a = askDeferred(t, d.URL, chatBody("cloud", "What is 2+3?", false), nil)
	if resp.StatusCode != 503 || a.Error == nil || a.Error.Code != "cloud_offline" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("policy cloud while unreachable: %d %+v Retry-After %q", resp.StatusCode, a.Error, resp.Header.Get("Retry-After"))
	}
	st, _ := d.box.Stats(context.Background())
	if st.Queued != len(ids) {
		t.Fatalf("outbox %+v, want %d queued", st, len(ids))
	}

	// The cloud comes back: the probe closes the breaker and the drain
	// sends every item.
	d.cloud.down.Store(false)
	d.run(t)
	ready := map[string]bool{}
	deadline := time.After(5 * time.Minute)
	sawOnline := false
	for len(ready) < len(ids) {
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatal("the events stream ended")
			}
			switch ev[0] {
			case events.CloudState:
				sawOnline = sawOnline || strings.Contains(ev[1], `"state":"online"`)
			case events.DeferredDone:
				var it outbox.DeferredItem
				if err := json.Unmarshal([]byte(ev[1]), &it); err != nil {
					t.Fatal(err)
				}
				if ready[it.ID] {
					t.Fatalf("%s announced done twice", it.ID)
				}
				ready[it.ID] = true
			case events.DeferredFailed:
				t.Fatalf("an item failed: %s", ev[1])
			}
		case <-deadline:
			t.Fatalf("%d of %d deferred items answered in 5 minutes", len(ready), len(ids))
		}
	}
	if !sawOnline {
		t.Error("no cloud.state online event")
	}
	for id, q := range ids {
		it := getItem(t, d.URL, id)
		want, err := d.direct.Complete(context.Background(), cloud.Request{Messages: []models.Message{{Role: "user", Content: q}}, Temperature: new(0.0)})
		if err != nil {
			t.Fatal(err)
		}
		if it.State != outbox.StateDone || it.Answer == nil || it.Answer.Content != want.Content || it.Attempts != 1 || it.Finished == nil {
			t.Fatalf("item for %q: %+v, want done with the cloud's answer %q after one attempt", q, it, want.Content)
		}
	}
	if n := d.cloud.calls.Load(); n != int64(len(ids)) {
		t.Fatalf("the cloud answered %d calls, want %d (one per deferred item)", n, len(ids))
	}
}

type offlineHealth struct {
	Status string `json:"status"`
	Cloud  struct {
		Reachable    bool          `json:"reachable"`
		Reachability *reach.Status `json:"reachability"`
	} `json:"cloud"`
	Budget *budget.Usage `json:"budget"`
	Outbox *outbox.Stats `json:"outbox"`
}

func offlineHealthz(t *testing.T, url string) offlineHealth {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h offlineHealth
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestOfflineSwitch: with offline on, nothing reaches the network — no
// answer, no probe, no health ping — and escalations are deferred.
func TestOfflineSwitch(t *testing.T) {
	d := newOfflineDaemon(t, offlineOpts{offline: true, threshold: 2})
	d.cloud.down.Store(true) // any connection at all is counted in refused
	d.run(t)
	resp, a := askDeferred(t, d.URL, chatBody("auto", "What is 2+3?", false), nil)
	if resp.StatusCode != 200 || a.Cascade.Route != "local" || !a.Cascade.Deferred || !strings.Contains(a.Cascade.Reason, "offline mode is on") {
		t.Fatalf("auto offline: %d %+v", resp.StatusCode, a.Cascade)
	}
	h := offlineHealthz(t, d.URL)
	if h.Status != "ok" || h.Cloud.Reachability == nil || h.Cloud.Reachability.State != reach.StateOffline || h.Outbox == nil || h.Outbox.Queued != 1 {
		t.Fatalf("healthz offline: %+v", h)
	}
	time.Sleep(300 * time.Millisecond) // longer than the probe interval: no probe may run
	if n := d.cloud.refused.Load(); n != 0 {
		t.Fatalf("offline mode opened %d connections to the cloud", n)
	}
	// Switching offline off lets the drain send the item.
	d.cloud.down.Store(false)
	d.tracker.SetOffline(false)
	d.deferrals.Wake()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if it := getItem(t, d.URL, a.Cascade.DeferredID); it.State == outbox.StateDone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the deferred item was not sent after offline mode was switched off")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBudgetCapDefers: once the daily call cap is reached, auto behaves as
// offline and says why; /healthz counts the use.
func TestBudgetCapDefers(t *testing.T) {
	d := newOfflineDaemon(t, offlineOpts{threshold: 2, limits: budget.Limits{CallsPerDay: 1}})
	_, a := askDeferred(t, d.URL, chatBody("auto", "What is 2+3?", false), nil)
	if a.Cascade.Route != "cloud" {
		t.Fatalf("first escalation within the budget: %+v", a.Cascade)
	}
	_, a = askDeferred(t, d.URL, chatBody("auto", "Name a primary color.", false), nil)
	if a.Cascade.Route != "local" || !a.Cascade.Deferred || !strings.Contains(a.Cascade.Reason, "daily cloud call cap reached (1 of 1") {
		t.Fatalf("over the budget: %+v", a.Cascade)
	}
	resp, b := askDeferred(t, d.URL, chatBody("cloud", "Name a primary color.", false), nil)
	if resp.StatusCode != 503 || b.Error == nil || b.Error.Code != "cloud_budget_exhausted" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("policy cloud over the budget: %d %+v", resp.StatusCode, b.Error)
	}
	h := offlineHealthz(t, d.URL)
	if h.Budget == nil || h.Budget.Today.Calls != 1 || h.Budget.Today.Tokens == 0 || !strings.Contains(h.Budget.Exhausted, "daily cloud call cap") {
		t.Fatalf("healthz budget: %+v", h.Budget)
	}
	if h.Cloud.Reachability == nil || h.Cloud.Reachability.State != reach.StateOnline {
		t.Fatalf("a spent budget is not a network failure: %+v", h.Cloud.Reachability)
	}
	if n := d.cloud.calls.Load(); n != 1 {
		t.Fatalf("the cloud answered %d calls, want 1", n)
	}
}

// TestDeferredAPIErrors: bad and unknown IDs.
func TestDeferredAPIErrors(t *testing.T) {
	d := newOfflineDaemon(t, offlineOpts{fake: true, threshold: 0.5})
	for path, want := range map[string]int{
		"/v1/cascade/deferred/nope":                                 400,
		"/v1/cascade/deferred/dfr_0123456789abcdef0123456789abcdef": 404,
		"/v1/cascade/deferred":                                      200,
	} {
		resp, err := http.Get(d.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || !json.Valid(b) {
			t.Errorf("GET %s: %d %s, want %d with a JSON body", path, resp.StatusCode, b, want)
		}
	}
}
