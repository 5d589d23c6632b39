package main

// Outbox faults: the cloud goes away and comes back, the daemon is killed
// or stopped while it drains deferred escalations. The cloud is newDrainCloud's
// openaitest server (outbox_test.go), which follows the OpenAI wire format.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud/openai/openaitest"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

// outboxDaemon runs serve against a drain cloud with every auto answer
// escalating; breaker is the YAML of cloud.breaker, drainRate of
// outbox.drain_rate.
func outboxDaemon(t *testing.T, cloud *openaitest.Server, dataDir, breaker, drainRate string) (*daemonProc, map[string]string, string) {
	t.Helper()
	s := needBed(t)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte(`
cloud:
  base_url: "`+cloud.BaseURL()+`"
  model: fake-strong
  max_retries: 0
  breaker: `+breaker+`
cascade:
  threshold: 1.01
outbox:
  drain_rate: `+drainRate+`
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"EDGECASCADE_LOCAL_URL": s.URL, "EDGECASCADE_LOCAL_MODEL": ollamatest.Weak,
		"EDGECASCADE_DATA_DIR": dataDir, "OPENAI_API_KEY": "sk-test"}
	return startServe(t, env, "--config", cfg), env, cfg
}

type autoOutcome struct {
	status   int
	header   http.Header
	route    string
	deferred bool
	id       string
	reason   string
	code     string
}

func askAuto(t *testing.T, url, model, q string) autoOutcome {
	t.Helper()
	resp, err := http.Post(url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"`+model+`","temperature":0,"max_tokens":16,"messages":[{"role":"user","content":"`+q+`"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var c struct {
		Cascade struct {
			Route      string `json:"route"`
			Deferred   bool   `json:"deferred"`
			DeferredID string `json:"deferred_id"`
			Reason     string `json:"reason"`
		} `json:"cascade"`
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	o := autoOutcome{status: resp.StatusCode, header: resp.Header, route: c.Cascade.Route, deferred: c.Cascade.Deferred,
		id: c.Cascade.DeferredID, reason: c.Cascade.Reason}
	if c.Error != nil {
		o.code = c.Error.Code
	}
	return o
}

// waitDone polls until every item is done and returns them.
func waitDone(t *testing.T, url string, ids map[string]string, logs fmt.Stringer) map[string]deferredView {
	t.Helper()
	out := map[string]deferredView{}
	deadline := time.Now().Add(3 * time.Minute)
	for id, q := range ids {
		for {
			v := getDeferred(t, url, id)
			if v.State == "done" {
				if v.Answer == nil || v.Answer.Content != "answer to: "+q {
					t.Fatalf("%s (%q) answered %+v", id, q, v.Answer)
				}
				out[id] = v
				break
			}
			if v.State == "failed" || time.Now().After(deadline) {
				t.Fatalf("%s (%q) is %s: %s", id, q, v.State, logs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return out
}

func outboxFaultCases() []faultCase {
	return []faultCase{
		{
			name: "outbox/breaker", fault: "cloud: unreachable for several requests in a row (connections closed)",
			expected: "`auto`: 200 with the local answer, escalation deferred; after `cloud.breaker.failures` failures the cloud is not called at all (answers at once); `cloud`: 503 `cloud_offline` with `Retry-After`; `/healthz` says unreachable",
			run:      runOutboxBreaker,
		},
		{
			name: "outbox/drain", fault: "cloud: back after an outage",
			expected: "the probe closes the breaker; every deferred item is sent once and `GET /v1/cascade/deferred/{id}` returns the cloud's answer",
			run:      runOutboxDrain,
		},
		{
			name: "outbox/kill-9", fault: "process: SIGKILL while a deferred item is on the wire to the cloud",
			expected: "after a restart every item is done, none lost; only the item on the wire is sent again, and it is completed once",
			run:      runOutboxKill9,
		},
		{
			name: "outbox/sigterm", fault: "process: SIGTERM while a deferred item is on the wire to the cloud",
			expected: "exit 0; the item is queued again before the outbox closes (no crash recovery needed at the next start) and answered after the restart",
			run:      runOutboxSigterm,
		},
		{
			name: "outbox/disk-full", fault: "disk: the data folder fills up while escalations are being deferred (small tmpfs)",
			expected: "the request still gets the local answer; the reason says the escalation could not be deferred and why; an ERROR is logged; `/healthz` is degraded with `outbox.error` until a write succeeds",
			run:      runOutboxDiskFull,
		},
	}
}

func runOutboxBreaker(t *testing.T, _ *faultFixtures) string {
	cloud := newDrainCloud(t)
	d, _, _ := outboxDaemon(t, cloud, t.TempDir(), "{failures: 3, probe_interval: 1h, max_probe_interval: 1h}", "0.001") // no drain attempts: only requests count
	var parts []string
	for i := 1; i <= 4; i++ {
		o := askAuto(t, d.url, "auto", fmt.Sprintf("What is %d plus 1?", i))
		if o.status != 200 || o.route != "local" || !o.deferred {
			t.Fatalf("request %d: %+v", i, o)
		}
		want := "escalation failed"
		if i == 4 {
			want = "cloud not called: cloud unreachable after 3 consecutive failures"
		}
		mustContain(t, "reason", o.reason, want, "deferred as "+o.id)
		if i == 3 || i == 4 {
			parts = append(parts, fmt.Sprintf("request %d: 200 route local, deferred, reason: …%s…", i, want))
		}
	}
	o := askAuto(t, d.url, "cloud", "What is 9 plus 1?")
	if o.status != 503 || o.code != "cloud_offline" || o.header.Get("Retry-After") == "" {
		t.Fatalf("policy cloud with the breaker open: %+v", o)
	}
	parts = append(parts, "policy cloud: 503 cloud_offline with Retry-After")
	resp, err := http.Get(d.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Status string `json:"status"`
		Cloud  struct {
			Reachability struct {
				State string `json:"state"`
			} `json:"reachability"`
		} `json:"cloud"`
		Outbox struct {
			Queued int `json:"queued"`
		} `json:"outbox"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if h.Cloud.Reachability.State != "unreachable" || h.Outbox.Queued != 4 {
		t.Fatalf("healthz %+v", h)
	}
	parts = append(parts, fmt.Sprintf("/healthz: %s, cloud %s, %d queued", h.Status, h.Cloud.Reachability.State, h.Outbox.Queued))
	return strings.Join(parts, "; ")
}

func runOutboxDrain(t *testing.T, _ *faultFixtures) string {
	cloud := newDrainCloud(t)
	d, _, _ := outboxDaemon(t, cloud, t.TempDir(), "{failures: 1, probe_interval: 100ms, max_probe_interval: 500ms}", "5")
	ids := map[string]string{}
	for i := range 3 {
		q := fmt.Sprintf("What is %d times 2?", i)
		o := askAuto(t, d.url, "auto", q)
		if !o.deferred {
			t.Fatalf("not deferred: %+v", o)
		}
		ids[o.id] = q
	}
	cloud.Set(openaitest.Fault{})
	done := waitDone(t, d.url, ids, d.logs)
	attempts := 0
	for _, v := range done {
		attempts += v.Attempts
	}
	for _, q := range ids {
		if n := cloud.CallsFor(q); n != 1 {
			t.Fatalf("%q sent %d times", q, n)
		}
	}
	return fmt.Sprintf("3 deferred while down; after the cloud came back: %d/3 done with the cloud's answer, %d attempts in all, each sent once", len(done), attempts)
}

func runOutboxKill9(t *testing.T, _ *faultFixtures) string {
	cloud := newDrainCloud(t)
	dataDir := t.TempDir()
	a, env, cfg := outboxDaemon(t, cloud, dataDir, "{failures: 1, probe_interval: 100ms, max_probe_interval: 500ms}", "5")
	const n = 8
	ids := map[string]string{}
	for i := range n {
		q := fmt.Sprintf("What is %d plus %d?", i, i+1)
		o := askAuto(t, a.url, "auto", q)
		if o.status != 200 || !o.deferred || o.route != "local" {
			t.Fatalf("request %d while the cloud is down: %+v", i, o)
		}
		ids[o.id] = q
	}
	// The cloud comes back; SIGKILL while the third item is on the wire.
	cloud.Set(openaitest.Fault{Delay: 300 * time.Millisecond})
	var inFlight string
	for k := 0; k < 3; k++ {
		select {
		case r := <-cloud.Arrived():
			inFlight = r.LastMessage()
		case <-time.After(2 * time.Minute):
			t.Fatalf("the drain sent %d items in 2 minutes: %s", k, a.logs)
		}
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Wait()

	b := startServe(t, env, "--config", cfg)
	done := waitDone(t, b.url, ids, b.logs)
	for id, q := range ids {
		want := 1
		if q == inFlight {
			want = 2
		}
		if got := done[id].Attempts; got != want {
			t.Errorf("%s (%q): %d attempts, want %d", id, q, got, want)
		}
		if got := cloud.CallsFor(q); got != want {
			t.Errorf("%q was sent %d times, want %d", q, got, want)
		}
	}
	mustContain(t, "restart log", b.logs.String(), "queued again")
	return fmt.Sprintf("%d deferred; SIGKILL with 1 item on the wire; after the restart (\"queued again\" logged) %d/%d done, none lost; the interrupted item was sent twice and completed once, the others sent once", n, len(done), n)
}

func runOutboxSigterm(t *testing.T, _ *faultFixtures) string {
	cloud := newDrainCloud(t)
	dataDir := t.TempDir()
	a, env, cfg := outboxDaemon(t, cloud, dataDir, "{failures: 1, probe_interval: 100ms, max_probe_interval: 500ms}", "5")
	q := "What is 40 plus 2?"
	o := askAuto(t, a.url, "auto", q)
	if !o.deferred {
		t.Fatalf("not deferred: %+v", o)
	}
	cloud.Set(openaitest.Fault{Delay: 30 * time.Second}) // long enough to be on the wire at SIGTERM
	select {
	case <-cloud.Arrived():
	case <-time.After(2 * time.Minute):
		t.Fatalf("the item was not sent: %s", a.logs)
	}
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exit := make(chan error, 1)
	go func() { exit <- a.cmd.Wait() }()
	select {
	case err := <-exit:
		if err != nil {
			t.Fatalf("serve exited with %v: %s", err, a.logs)
		}
	case <-time.After(time.Minute):
		t.Fatalf("serve did not stop: %s", a.logs)
	}
	cloud.Set(openaitest.Fault{})
	b := startServe(t, env, "--config", cfg)
	if strings.Contains(b.logs.String(), "queued again") {
		t.Fatalf("a clean stop left an item marked as being sent:\n%s", b.logs)
	}
	done := waitDone(t, b.url, map[string]string{o.id: q}, b.logs)
	// The interrupted attempt counts; how many more the restarted daemon
	// needs depends on the machine's load (a slow answer may time out and
	// be retried), so the row says at least 2.
	if n := done[o.id].Attempts; n < 2 {
		t.Fatalf("done after %d attempts: the interrupted attempt was not counted", n)
	}
	return fmt.Sprintf("exit 0; the item on the wire was queued again (no recovery at the next start); after the restart: %s with the cloud's answer (attempts: at least 2, the interrupted one counted)", done[o.id].State)
}

// runOutboxDiskFull: the outbox's disk fills up while the cloud is down.
func runOutboxDiskFull(t *testing.T, fx *faultFixtures) string {
	dir := mountTmpfs(t, fx, "size=1m")
	cloud := newDrainCloud(t)
	d, _, _ := outboxDaemon(t, cloud, dir, "{failures: 1, probe_interval: 1h, max_probe_interval: 1h}", "0.001")
	if o := askAuto(t, d.url, "auto", "What is 1 plus 1?"); !o.deferred {
		t.Fatalf("before the disk is full: %+v", o)
	}
	filler := fillDisk(t, dir)
	// bbolt may reuse pages it already has: ask until a deferral fails.
	var o autoOutcome
	for i := 0; ; i++ {
		if i == 40 {
			t.Fatalf("40 deferrals on a full disk and none failed:\n%s", d.logs)
		}
		o = askAuto(t, d.url, "auto", fmt.Sprintf("What is %d plus 2?", i))
		if o.status != 200 || o.route != "local" {
			t.Fatalf("request on a full disk: %+v", o)
		}
		if !o.deferred {
			break
		}
	}
	mustContain(t, "reason", o.reason, "could not defer it", "no space left on device")
	waitFor(t, func() bool { return strings.Contains(d.logs.String(), "could not defer the escalation") })
	line := logLine(d.logs.String(), "could not defer the escalation")
	mustContain(t, "log line", line, "level=ERROR", "no space left on device")
	h := outboxHealthOf(t, d.url)
	if h.Status != "degraded" || !strings.Contains(h.Outbox.Error, "no space left on device") {
		t.Fatalf("/healthz with a full outbox disk: %+v", h)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	after := askAuto(t, d.url, "auto", "What is 5 plus 5?")
	if !after.deferred {
		t.Fatalf("after freeing space: %+v", after)
	}
	h2 := outboxHealthOf(t, d.url)
	if h2.Outbox.Error != "" {
		t.Fatalf("/healthz after freeing space: %+v", h2)
	}
	i := strings.Index(o.reason, "could not defer it")
	return fmt.Sprintf("200 with the local answer, deferred: false, reason: …%s; ERROR logged; /healthz %s with outbox.error; after freeing space the next escalation is deferred and outbox.error clears",
		normalize(o.reason[i:], dir), h.Status)
}

type outboxHealth struct {
	Status string `json:"status"`
	Outbox struct {
		Queued int    `json:"queued"`
		Error  string `json:"error"`
	} `json:"outbox"`
}

func outboxHealthOf(t *testing.T, url string) outboxHealth {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h outboxHealth
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}
