package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/decisionlog"
	"github.com/edgecascade/edgecascade/agent/events"
	"github.com/edgecascade/edgecascade/agent/httpapi"
	"github.com/edgecascade/edgecascade/agent/ui"
	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/configs/secret"
)

// TestDashboardFiles: with a token set, the dashboard's files load without
// it (a browser cannot send one when it loads a page), each with the strict
// Content-Security-Policy and its content type; a browser at / gets the
// page, any other client at / still needs the token; the API behind the
// page refuses a request without the token; an unknown file is a 404.
func TestDashboardFiles(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, server: func(c *httpapi.ServerConfig) {
		c.AuthToken = secret.Secret(testToken)
		c.CheckHost = true
	}})
	want := map[string]string{".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
	files := ui.Files()
	if len(files) < 4 {
		t.Fatalf("embedded files: %v", files)
	}
	for _, name := range append(files, "") {
		path := "/ui/" + name
		if name == "" {
			path = "/ui"
		}
		resp, raw := send(t, "GET", d.URL+path, "", nil, "")
		ext := ".html"
		if name != "" {
			ext = filepath.Ext(name)
		}
		if resp.StatusCode != http.StatusOK || len(raw) == 0 || !strings.HasPrefix(resp.Header.Get("Content-Type"), want[ext]) {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if csp != ui.CSP || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Fatalf("%s: CSP %q", path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: no nosniff", path)
		}
		if ext == ".html" && strings.Contains(string(raw), "<script>") {
			t.Fatalf("%s has an inline script", path)
		}
	}
	for _, tc := range []struct {
		path, accept string
		status       int
		body         string
	}{
		{"/", "text/html,application/xhtml+xml", 200, `<script src="/ui/app.js"`},
		{"/", "", 401, "invalid_api_key"},
		{"/ui/nosuch.js", "", 404, "not_found"},
		{"/ui/..%2fserver.go", "", 404, ""},
		{"/v1/cascade/summary", "text/html", 401, "invalid_api_key"},
		{"/healthz", "text/html", 401, "invalid_api_key"},
	} {
		resp, raw := send(t, "GET", d.URL+tc.path, "", map[string]string{"Accept": tc.accept}, "")
		if resp.StatusCode != tc.status || !strings.Contains(string(raw), tc.body) {
			t.Fatalf("GET %s (Accept %q): %d %.200s", tc.path, tc.accept, resp.StatusCode, raw)
		}
	}
	// A foreign Host is refused even for the page.
	if resp, _ := send(t, "GET", d.URL+"/ui", "evil.example", nil, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("page under a foreign Host: %d", resp.StatusCode)
	}
}

// TestDashboardSameOrigin: the page's own POSTs carry its Origin (the
// daemon's scheme and Host): accepted on a loopback daemon (the Host check
// rules out DNS rebinding) and with a token; a foreign origin still gets
// 403; a non-loopback daemon without a token accepts only listed origins.
func TestDashboardSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		name      string
		checkHost bool
		token     bool
		status    int
	}{
		{"loopback", true, false, 200},
		{"token", false, true, 200},
		{"open daemon", false, false, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDaemon(t, daemonOpts{threshold: 0.5, server: func(c *httpapi.ServerConfig) {
				c.CheckHost = tc.checkHost
				if tc.token {
					c.AuthToken = secret.Secret(testToken)
				}
			}})
			hdr := map[string]string{"Origin": d.URL, "Content-Type": "application/json"}
			if tc.token {
				hdr["Authorization"] = "Bearer " + testToken
			}
			body := `{"model":"auto","messages":[{"role":"user","content":"hi"}]}`
			resp, raw := send(t, "POST", d.URL+"/v1/chat/completions", "", hdr, body)
			if resp.StatusCode != tc.status {
				t.Fatalf("same-origin POST: %d %.200s", resp.StatusCode, raw)
			}
			hdr["Origin"] = "http://evil.example"
			if resp, _ := send(t, "POST", d.URL+"/v1/chat/completions", "", hdr, body); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("foreign origin: %d", resp.StatusCode)
			}
		})
	}
}

// TestSummaryAndDecisionEvents: each answer is a decision event with the
// response's id; the summary counts today's requests, the local share and
// the savings at the configured prices, names the threshold's source and
// the features served (feedback only when its route is in the table).
func TestSummaryAndDecisionEvents(t *testing.T) {
	broker := events.NewBroker()
	dlog, err := decisionlog.Open(filepath.Join(t.TempDir(), "decisions.db"), decisionlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dlog.Close() })
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, server: func(c *httpapi.ServerConfig) {
		c.Events = broker
		c.Decisions = dlog
		c.CloudPrice = cloud.Price{InputPer1K: 1, OutputPer1K: 2}
	}})
	evs, stop := sseStream(t, d.URL, "", false)
	defer stop()
	ready(t, evs)
	_, c1 := ask(t, d, "auto", "local please")
	_, c2 := ask(t, d, "cloud", "cloud please")
	var ids []string
	for len(ids) < 2 {
		ev := next(t, evs)
		if ev.Type != events.Decision {
			continue
		}
		var e struct {
			ID, Route, Policy string
			Threshold         float64
		}
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil || e.Threshold != 0.5 {
			t.Fatalf("decision event %s: %v", ev.Data, err)
		}
		ids = append(ids, e.ID+"/"+e.Route+"/"+e.Policy)
	}
	if ids[0] != c1.ID+"/local/auto" || ids[1] != c2.ID+"/cloud/cloud" || c1.ID == "" {
		t.Fatalf("decision events %v, responses %q %q", ids, c1.ID, c2.ID)
	}

	var resp *http.Response
	var raw []byte
	pollUntil(t, "the decision log holds both", func() bool {
		resp, raw = send(t, "GET", d.URL+"/v1/cascade/summary", "", nil, "")
		return strings.Contains(string(raw), `"requests":2`)
	})
	var s struct {
		Features map[string]bool
		Today    struct {
			Requests, Local, Cloud int
			LocalShare             float64 `json:"local_share"`
			AlwaysCloud            float64 `json:"always_cloud_cost"`
			Savings                float64
			PromptTokens           int `json:"prompt_tokens"`
		}
		Month      struct{ Requests int } `json:"this_month"`
		Confidence struct {
			Scorer, Source string
			Threshold      float64
			Scores         []float64
		}
		Prices struct {
			In float64 `json:"input_per_1k"`
		}
	}
	if err := json.Unmarshal(raw, &s); err != nil || resp.StatusCode != 200 {
		t.Fatalf("summary %d %s: %v", resp.StatusCode, raw, err)
	}
	if s.Today.Requests != 2 || s.Today.Local != 1 || s.Today.Cloud != 1 || s.Today.LocalShare != 0.5 || s.Month.Requests != 2 {
		t.Fatalf("summary counts: %s", raw)
	}
	if s.Today.Savings <= 0 || s.Prices.In != 1 {
		t.Fatalf("savings at $1/$2 per 1K tokens: %s", raw)
	}
	if s.Confidence.Source != "config" || s.Confidence.Threshold != 0.5 || s.Confidence.Scorer != "mean_logprob" || len(s.Confidence.Scores) != 1 {
		t.Fatalf("confidence: %s", raw)
	}
	feedback := false
	for _, rt := range d.api.Routes() {
		feedback = feedback || rt.Pattern == "/v1/cascade/feedback"
	}
	if !s.Features["decisions"] || !s.Features["events"] || s.Features["feedback"] != feedback {
		t.Fatalf("features %v (feedback route: %v)", s.Features, feedback)
	}
	if !feedback {
		return
	}
	// Labels: the local answer labelled right, the cloud one wrong (which
	// labels the cloud's answer, cloud_label, and says nothing of the
	// local model): one labelled, accepted answer, right; the bound at the
	// default delta 0.1 is 1 - (1 - 0.1^(1/1)) = 0.1.
	for id, correct := range map[string]bool{c1.ID: true, c2.ID: false} {
		if resp, raw := send(t, "POST", d.URL+"/v1/cascade/feedback", "", map[string]string{"Content-Type": "application/json"},
			fmt.Sprintf(`{"id":%q,"correct":%t}`, id, correct)); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("feedback %s: %d %s", id, resp.StatusCode, raw)
		}
	}
	resp, raw = send(t, "GET", d.URL+"/v1/cascade/summary", "", nil, "")
	var l struct {
		Confidence struct {
			Labels *struct {
				Labelled, Accepted, Right int
				Accuracy                  float64
				LowerBound                float64 `json:"lower_bound"`
				Delta                     float64
			}
		}
	}
	if err := json.Unmarshal(raw, &l); err != nil || l.Confidence.Labels == nil {
		t.Fatalf("summary %d %s: %v", resp.StatusCode, raw, err)
	}
	if lb := *l.Confidence.Labels; lb.Labelled != 1 || lb.Accepted != 1 || lb.Right != 1 || lb.Accuracy != 1 || math.Abs(lb.LowerBound-0.1) > 1e-9 || lb.Delta != 0.1 {
		t.Fatalf("labels: %+v", lb)
	}
}

// fixedJoules measures every local generation as j joules.
type fixedJoules float64

func (j fixedJoules) Measure(_ context.Context, fn func() error) (float64, bool, error) {
	return float64(j), true, fn()
}

// The summary sums the measured energy of the local generations per day
// and month (from the decision log's local_j); none without a meter.
func TestSummaryEnergy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		meter cascade.EnergyMeter
		want  *float64
	}{
		{"measured", fixedJoules(2.5), new(5.0)},
		{"not measured", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dlog, err := decisionlog.Open(filepath.Join(t.TempDir(), "decisions.db"), decisionlog.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dlog.Close() })
			d := newFakeDaemon(t, daemonOpts{threshold: 0.5, energy: tc.meter, server: func(c *httpapi.ServerConfig) { c.Decisions = dlog }})
			ask(t, d, "auto", "one")
			ask(t, d, "local", "two")
			ask(t, d, "cloud", "three") // no local generation
			var raw []byte
			pollUntil(t, "the decision log holds all three", func() bool {
				_, raw = send(t, "GET", d.URL+"/v1/cascade/summary", "", nil, "")
				return strings.Contains(string(raw), `"requests":3`)
			})
			var s struct {
				Today struct {
					EnergyJ *float64 `json:"energy_j"`
				} `json:"today"`
				Month struct {
					EnergyJ *float64 `json:"energy_j"`
				} `json:"this_month"`
			}
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatal(err)
			}
			for _, got := range []*float64{s.Today.EnergyJ, s.Month.EnergyJ} {
				if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
					t.Fatalf("energy %v, want %v: %s", got, tc.want, raw)
				}
			}
		})
	}
}
