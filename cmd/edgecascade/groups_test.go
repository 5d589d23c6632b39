package main

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/edgecascade/edgecascade/agent/decisionlog"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
	"github.com/edgecascade/edgecascade/uq/calib"
)

// TestCalibrateGroups: on the real test bed, calibrate --groups 3 embeds
// the prompts with the local model (tiny-weak through Ollama), writes
// three clusters named by that model with their sizes and local accuracy;
// serve with adapt.enabled puts a request without X-Cascade-Group into one
// of them (the decision log says cluster-<i>), an explicit group wins, and
// clusters of another embed model stop serve naming local.embed_model. It
// logs the cost of the one embed call a request pays.
func TestCalibrateGroups(t *testing.T) {
	s := needBed(t)
	env := bedEnv(s)
	dir := t.TempDir()
	out := filepath.Join(dir, "groups.json")
	stdout, stderr, err := run(t, env, "calibrate", "--data", testbedFile(t, "calib.jsonl"), "--limit", "120",
		"--cache-dir", filepath.Join(dir, "cache"), "--out", out, "--target-cloud-rate", "0.3", "--groups", "3")
	if err != nil {
		t.Fatalf("calibrate --groups 3: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "embedding 120 prompts with "+ollamatest.Weak) || !strings.Contains(stdout, "cluster-2") {
		t.Fatalf("calibrate --groups output:\n%s\n%s", stdout, stderr)
	}
	f, err := calib.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if f.Groups == nil || f.Groups.EmbedModel != ollamatest.Weak || len(f.Groups.Clusters) != 3 {
		t.Fatalf("groups %+v", f.Groups)
	}
	total := 0
	for _, c := range f.Groups.Clusters {
		if c.Size == 0 || c.Correct > c.Size {
			t.Fatalf("cluster %+v", c)
		}
		total += c.Size
	}
	if total != 120 {
		t.Fatalf("clusters hold %d items, want 120", total)
	}
	t.Logf("calibrate --groups 3:\n%s", stdout)

	// K above the items is refused.
	if _, _, err := run(t, env, "calibrate", "--data", testbedFile(t, "calib.jsonl"), "--limit", "2",
		"--cache-dir", filepath.Join(dir, "cache"), "--out", filepath.Join(dir, "x.json"), "--target-cloud-rate", "0.3", "--groups", "3"); err == nil || !strings.Contains(err.Error(), "more clusters than the 2 items") {
		t.Fatalf("--groups 3 on 2 items: %v", err)
	}

	senv := adaptEnv(t, t.TempDir())
	senv["EDGECASCADE_CASCADE_CALIBRATION"] = out
	senv["EDGECASCADE_ADAPT_TARGET"] = "0.9"
	d := startServe(t, senv)
	auto := chat(t, d.url, "auto", sureQ)
	withHeader := chatWithGroup(t, d.url, sureQ, "capitals")
	if withHeader == "" {
		t.Fatal("no X-Cascade-Id")
	}
	var log map[string]decisionlog.Entry
	waitFor(t, func() bool { // the log is written in the background
		log = decisions(t, d.url)
		_, a := log[auto.ID]
		_, h := log[withHeader]
		return a && h
	})
	names := []string{"cluster-0", "cluster-1", "cluster-2"}
	if g := log[auto.ID].Group; !slices.Contains(names, g) {
		t.Fatalf("request without a group logged in group %q, want one of %v\n%s", g, names, d.logs)
	}
	if g := log[withHeader].Group; g != "capitals" {
		t.Fatalf("X-Cascade-Group capitals logged as %q", g)
	}
	if !strings.Contains(d.logs.String(), "nearest embedding cluster") {
		t.Fatalf("serve does not say it groups by clusters:\n%s", d.logs)
	}

	// The cost of the one embed call a request pays, on this machine:
	// directly, and as the difference of a whole request through the daemon
	// without and with a group header (which needs no embed call).
	var grouped, explicit []time.Duration
	for i := 0; i < 15; i++ {
		start := time.Now()
		chat(t, d.url, "auto", sureQ)
		grouped = append(grouped, time.Since(start))
		start = time.Now()
		chatWithGroup(t, d.url, sureQ, "capitals")
		explicit = append(explicit, time.Since(start))
	}
	slices.Sort(grouped)
	slices.Sort(explicit)
	t.Logf("whole request through the daemon: median %v without a group (embedded), %v with X-Cascade-Group", grouped[7], explicit[7])
	c := api.NewClient(mustURL(t, s.URL), http.DefaultClient)
	var took []time.Duration
	for i := 0; i < 20; i++ {
		start := time.Now()
		if _, err := c.Embed(context.Background(), &api.EmbedRequest{Model: ollamatest.Weak, Input: "What is the capital of Umyunqua?"}); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("embed call with %s: median %v, p90 %v, max %v", ollamatest.Weak, took[10], took[18], took[19])

	// Clusters of another embed model stop serve, naming the setting.
	cmd := exec.Command(binary, "serve", "--listen", "127.0.0.1:0")
	for k, v := range senv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "EDGECASCADE_LOCAL_EMBED_MODEL="+ollamatest.Strong, "EDGECASCADE_DATA_DIR="+t.TempDir())
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "local.embed_model") || !strings.Contains(string(b), ollamatest.Weak) {
		t.Fatalf("serve with clusters of another embed model: %v\n%s", err, b)
	}
	// doctor says the same.
	denv := map[string]string{"EDGECASCADE_LOCAL_EMBED_MODEL": ollamatest.Strong}
	for k, v := range senv {
		denv[k] = v
	}
	dout, _, _ := run(t, denv, "doctor")
	if !strings.Contains(dout, "its clusters were fitted with embed model") || !strings.Contains(dout, "local.embed_model") {
		t.Fatalf("doctor with clusters of another embed model:\n%s", dout)
	}
}

// chatWithGroup asks with X-Cascade-Group and returns the response id.
func chatWithGroup(t *testing.T, base, q, group string) string {
	t.Helper()
	body := `{"model":"auto","temperature":0,"messages":[{"role":"user","content":` + jsonString(q) + `}]}`
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Cascade-Group", group)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.Header.Get("X-Cascade-Id")
}
