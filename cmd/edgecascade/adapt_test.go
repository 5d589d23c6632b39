package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/agent/decisionlog"
	"github.com/edgecascade/edgecascade/uq/adapt"
)

// Learning from deployment on the real test bed (weak model local, strong
// model as the cloud, the calibration of docs/eval-testbed): labels from
// agreement, exploration and feedback reach the decision log and the
// online threshold; exploration never runs under policy local nor offline;
// the state survives a restart; a drift is an adapt.drift event.

const bedCalibration = "../../docs/eval-testbed/calibration.json"

func adaptEnv(t *testing.T, dataDir string) map[string]string {
	t.Helper()
	env := bedEnv(needBed(t))
	env["EDGECASCADE_DATA_DIR"] = dataDir
	env["EDGECASCADE_ADAPT_ENABLED"] = "true"
	env["EDGECASCADE_CASCADE_CALIBRATION"] = bedCalibration
	env["EDGECASCADE_CASCADE_SCORER"] = "mean_logprob"
	env["EDGECASCADE_OUTBOX_ENABLED"] = "false"
	return env
}

type chatReply struct {
	ID      string `json:"id"`
	Cascade struct {
		Route     string   `json:"route"`
		Escalated bool     `json:"escalated"`
		Score     *float64 `json:"score"`
	} `json:"cascade"`
}

func chat(t *testing.T, base, model, q string) chatReply {
	t.Helper()
	body := `{"model":"` + model + `","temperature":0,"messages":[{"role":"user","content":` + jsonString(q) + `}]}`
	resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r chatReply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.ID == "" {
		t.Fatalf("chat %q: %v %+v", q, err, r)
	}
	return r
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func decisions(t *testing.T, base string) map[string]decisionlog.Entry {
	t.Helper()
	resp, err := http.Get(base + "/v1/cascade/decisions?n=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Data []decisionlog.Entry `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]decisionlog.Entry{}
	for _, e := range doc.Data {
		out[e.ID] = e
	}
	return out
}

func adaptHealth(t *testing.T, base string) adapt.Status {
	t.Helper()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Adapt *adapt.Status `json:"adapt"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || h.Adapt == nil {
		t.Fatalf("no adapt in /healthz: %v", err)
	}
	return *h.Adapt
}

// Questions of the test bed: the weak model answers the first confidently
// (accepted), not the second (escalated).
const (
	sureQ   = "Spell rmzf backwards."
	unsureQ = "What is 4721 + 3389?"
)

func TestAdaptLabels(t *testing.T) {
	dataDir := t.TempDir()
	env := adaptEnv(t, dataDir)
	env["EDGECASCADE_ADAPT_EXPLORE_RATE"] = "1" // every accepted answer
	d := startServe(t, env)

	sure := chat(t, d.url, "auto", sureQ)
	unsure := chat(t, d.url, "auto", unsureQ)
	if sure.Cascade.Route != "local" || !unsure.Cascade.Escalated || unsure.Cascade.Route != "cloud" {
		t.Fatalf("routes: %+v %+v", sure.Cascade, unsure.Cascade)
	}
	// Policy local: never explored, never recorded.
	local := chat(t, d.url, "local", sureQ)

	// The agreement label rides with the escalated decision; the
	// exploration label arrives in the background.
	waitFor(t, func() bool {
		es := decisions(t, d.url)
		a, x := es[unsure.ID].Label, es[sure.ID].Label
		return a != nil && a.Source == adapt.SourceAgreement && x != nil && x.Source == adapt.SourceExploration && x.Weight == 1
	})
	es := decisions(t, d.url)
	if es[local.ID].Label != nil {
		t.Fatalf("policy local labelled: %+v", es[local.ID].Label)
	}
	if made := scrapeMetric(t, d.url, `edgecascade_adapt_explorations_total{result="made"}`); made != 1 {
		t.Fatalf("explorations made %v, want 1 (policy local never explores)", made)
	}

	// Feedback on the accepted answer replaces the exploration label and
	// reaches the online threshold.
	fb := `{"id":"` + sure.ID + `","correct":false,"replace":true}`
	resp, err := http.Post(d.url+"/v1/cascade/feedback", "application/json", strings.NewReader(fb))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("feedback: %s", resp.Status)
	}
	if resp, _ := http.Post(d.url+"/v1/cascade/feedback", "application/json", strings.NewReader(`{"id":"chatcmpl-none","correct":true}`)); resp.StatusCode != 404 {
		t.Fatalf("unknown id: %s", resp.Status)
	}
	st := adaptHealth(t, d.url)
	if st.Global.Total[adapt.SourceFeedback] != 1 || st.Global.Total[adapt.SourceAgreement] != 1 || st.Global.Total[adapt.SourceExploration] != 1 || st.Global.Decisions != 2 {
		t.Fatalf("adapt status %+v", st.Global)
	}

	// The state survives a restart.
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, adaptFile)); err != nil {
		t.Fatal(err)
	}
	d2 := startServe(t, env)
	st2 := adaptHealth(t, d2.url)
	if st2.Global.Decisions != 2 || st2.Global.Total[adapt.SourceFeedback] != 1 || st2.Global.Threshold != st.Global.Threshold {
		t.Fatalf("after a restart %+v, before %+v", st2.Global, st.Global)
	}
	out, _, err := run(t, map[string]string{"EDGECASCADE_DATA_DIR": dataDir}, "adapt", "status", "--listen", strings.TrimPrefix(d2.url, "http://"))
	if err != nil || !strings.Contains(out, "(global)") || !strings.Contains(out, "AGREEMENT") {
		t.Fatalf("adapt status: %v\n%s", err, out)
	}
	// A calibration file from the deployment's own labels.
	calFile := filepath.Join(t.TempDir(), "from-log.json")
	out, _, err = run(t, map[string]string{"EDGECASCADE_DATA_DIR": dataDir}, "calibrate", "--from-log", "--target-cloud-rate", "0.5",
		"--cascade.scorer", "mean_logprob", "--out", calFile, "--listen", strings.TrimPrefix(d2.url, "http://"))
	if err != nil || !strings.Contains(out, "wrote "+calFile) {
		t.Fatalf("calibrate --from-log: %v\n%s", err, out)
	}
	b, err := os.ReadFile(calFile)
	if err != nil || !strings.Contains(string(b), "decision log labels (feedback 1, agreement 1, exploration 0)") {
		t.Fatalf("calibration file: %v\n%s", err, b)
	}
}

// Offline: an accepted answer is never explored (the draw is counted as
// skipped), and no call reaches the cloud.
func TestAdaptNoExplorationOffline(t *testing.T) {
	env := adaptEnv(t, t.TempDir())
	env["EDGECASCADE_ADAPT_EXPLORE_RATE"] = "1"
	d := startServe(t, env, "--offline")
	r := chat(t, d.url, "auto", sureQ)
	if r.Cascade.Route != "local" {
		t.Fatalf("route %s", r.Cascade.Route)
	}
	if made := scrapeMetric(t, d.url, `edgecascade_adapt_explorations_total{result="made"}`); made != 0 {
		t.Fatalf("explored offline: %v", made)
	}
	if skipped := scrapeMetric(t, d.url, `edgecascade_adapt_explorations_total{result="skipped_offline"}`); skipped != 1 {
		t.Fatalf("skipped offline %v, want 1", skipped)
	}
}

// A drift: the users start saying that the accepted answers are wrong
// (feedback correct: false on each): the threshold in force is shown to
// fail, an adapt.drift event says so, and the threshold moves up.
func TestAdaptDriftEvent(t *testing.T) {
	env := adaptEnv(t, t.TempDir())
	env["EDGECASCADE_ADAPT_EXPLORE_RATE"] = "0"
	env["EDGECASCADE_ADAPT_MIN_LABELS"] = "5"
	d := startServe(t, env)
	before := adaptHealth(t, d.url).Global.Threshold

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", d.url+"/v1/cascade/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "event: adapt.drift") && sc.Scan() {
				got <- strings.TrimPrefix(sc.Text(), "data: ")
				return
			}
		}
		close(got)
	}()
	for _, q := range bedItems(t, "reverse", 60) {
		r := chat(t, d.url, "auto", q)
		if r.Cascade.Route == "local" {
			resp, err := http.Post(d.url+"/v1/cascade/feedback", "application/json", strings.NewReader(`{"id":"`+r.ID+`","correct":false}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		select {
		case ev := <-got:
			var dr adapt.Drift
			if err := json.Unmarshal([]byte(ev), &dr); err != nil || !dr.Below || dr.Target != 0.9 {
				t.Fatalf("drift event %s: %v", ev, err)
			}
			if after := adaptHealth(t, d.url).Global.Threshold; after <= before {
				t.Fatalf("threshold %v -> %v", before, after)
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no adapt.drift event; status %+v", adaptHealth(t, d.url).Global)
}

// bedItems are the first n prompts of a task in the test bed's val.jsonl.
func bedItems(t *testing.T, task string, n int) []string {
	t.Helper()
	f, err := os.Open(testbedFile(t, "val.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	dec := json.NewDecoder(f)
	for len(out) < n {
		var it struct{ Task, Prompt string }
		if err := dec.Decode(&it); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if it.Task == task {
			out = append(out, it.Prompt)
		}
	}
	return out
}
