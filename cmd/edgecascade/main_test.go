package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/configs"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
	"github.com/edgecascade/edgecascade/probe"
	"github.com/edgecascade/edgecascade/uq/calib"
)

var (
	bed       *ollamatest.Server
	bedReason error
	binary    string // the edgecascade binary, built once
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "edgecascade-cmd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "edgecascade")
	// Routing in tests must not depend on this machine's battery or heat:
	// the power and heat rules are tested with fake sysfs trees.
	os.Setenv("EDGECASCADE_RESOURCES_ENABLED", "false")
	// Nor on a config file of this machine's user: the search finds none
	// in an empty XDG_CONFIG_HOME (cli_test.go tests the search).
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	os.Unsetenv("EDGECASCADE_CONFIG")
	args := []string{"build", "-o", binary}
	if engineBuilt { // the binary gets the same engine as the tests
		args = append(args, "-tags", "llamacpp")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		return 1
	}
	if _, err := ollamatest.FindBinary(); err != nil {
		bedReason = err
		return m.Run()
	}
	s, cleanup, err := ollamatest.StartTemp(ollamatest.Weak, ollamatest.Strong, ollamatest.WeakTools)
	defer cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start ollama:", err)
		return 1
	}
	bed = s
	return m.Run()
}

func needBed(t *testing.T) *ollamatest.Server {
	t.Helper()
	if bed == nil {
		t.Skipf("skipping integration test: %v", bedReason)
	}
	return bed
}

// run executes the CLI in-process and returns stdout, stderr and the error.
func run(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var stdout, stderr bytes.Buffer
	root := newRoot(&stdout, &stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return stdout.String(), stderr.String(), err
}

func bedEnv(s *ollamatest.Server) map[string]string {
	return map[string]string{
		"EDGECASCADE_LOCAL_URL":      s.URL,
		"EDGECASCADE_LOCAL_MODEL":    ollamatest.Weak,
		"EDGECASCADE_CLOUD_BASE_URL": s.URL + "/v1",
		"EDGECASCADE_CLOUD_MODEL":    ollamatest.Strong,
	}
}

func testbedFile(t *testing.T, name string) string {
	t.Helper()
	bedDir, err := ollamatest.TestbedDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(bedDir, "data", name)
}

func TestVersionAndConfigValidation(t *testing.T) {
	out, _, err := run(t, nil, "--version")
	if err != nil || !strings.Contains(out, "edgecascade version") {
		t.Fatalf("--version: %q, %v", out, err)
	}
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(cfg, []byte("cascade:\n  scorer: vibes\n"), 0o600)
	_, _, err = run(t, nil, "config", "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "cascade.scorer") || !strings.Contains(err.Error(), "EDGECASCADE_CASCADE_SCORER") {
		t.Fatalf("bad scorer: %v", err)
	}
	_, _, err = run(t, nil, "config", "--cascade.threshold", "-1")
	if err == nil || !strings.Contains(err.Error(), "cascade.threshold") {
		t.Fatalf("flag override not validated: %v", err)
	}
	out, _, err = run(t, nil, "config", "--cascade.threshold", "0")
	if err != nil || !strings.Contains(out, "configuration is valid") || !strings.Contains(out, "threshold 0\n") {
		t.Fatalf("threshold 0: %q, %v", out, err)
	}
}

func TestAsk(t *testing.T) {
	s := needBed(t)
	out, _, err := run(t, bedEnv(s), "ask", "--cascade.threshold", "0.5", "Spell rmzf backwards.")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "fzmr\n") || !strings.Contains(out, "route: local") || !regexp.MustCompile(`confidence [01]\.\d{3}`).MatchString(out) {
		t.Fatalf("ask output:\n%s", out)
	}
}

func TestCalibrateUsesCacheAndRefusesUncertifiable(t *testing.T) {
	s := needBed(t)
	env := bedEnv(s)
	dir := t.TempDir()
	data := testbedFile(t, "calib.jsonl")
	out1 := filepath.Join(dir, "acc.json")
	args := []string{"calibrate", "--data", data, "--limit", "300", "--cache-dir", filepath.Join(dir, "cache")}
	stdout, stderr, err := run(t, env, append(args, "--out", out1, "--target-accuracy", "0.9", "--delta", "0.1")...)
	if err != nil {
		t.Fatalf("calibrate: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "(0 of 300 items cached)") || !strings.Contains(stderr, "300/300") {
		t.Fatalf("first run should start cold and show progress:\n%s", stderr)
	}
	f, err := calib.ReadFile(out1)
	if err != nil {
		t.Fatal(err)
	}
	fit, err := f.Fit("mean_logprob")
	if err != nil {
		t.Fatal(err)
	}
	if f.LocalModel != ollamatest.Weak || f.Items != 300 || f.DataHash == "" || f.Method != calib.MethodTargetAccuracy || fit.Result.Certificate == nil {
		t.Fatalf("calibration file: %+v", f)
	}
	if fit.Result.AcceptedAccuracy < 0.9 || *fit.AUROC < 0.8 {
		t.Fatalf("mean_logprob fit on the test bed: %+v auroc %v", fit.Result, *fit.AUROC)
	}
	if !strings.Contains(stdout, "at least 90% of accepted answers are right") {
		t.Fatalf("guarantee sentence missing:\n%s", stdout)
	}

	// Another target re-uses the cached answers.
	out2 := filepath.Join(dir, "rate.json")
	_, stderr, err = run(t, env, append(args, "--out", out2, "--target-cloud-rate", "0.3")...)
	if err != nil || !strings.Contains(stderr, "(300 of 300 items cached)") {
		t.Fatalf("second run should be served from the cache: %v\n%s", err, stderr)
	}
	g, err := calib.ReadFile(out2)
	if err != nil {
		t.Fatal(err)
	}
	if r := g.Scorers["mean_logprob"].Result; r == nil || r.CloudRate > 0.3 || r.CloudRate < 0.25 {
		t.Fatalf("cloud rate fit: %+v", r)
	}

	// A target that cannot be certified on 20 items says so and writes nothing.
	out3 := filepath.Join(dir, "none.json")
	_, _, err = run(t, env, "calibrate", "--data", data, "--limit", "20", "--cache-dir", filepath.Join(dir, "cache"),
		"--out", out3, "--target-accuracy", "0.99")
	if err == nil || !strings.Contains(err.Error(), "certif") {
		t.Fatalf("uncertifiable target: %v", err)
	}
	if _, err := os.Stat(out3); !os.IsNotExist(err) {
		t.Fatalf("a file was written for an uncertifiable target")
	}
	// Exactly one method.
	if _, _, err := run(t, env, "calibrate", "--data", data, "--out", out3); err == nil {
		t.Fatal("calibrate without a method succeeded")
	}
}

// daemonProc is the real binary running `serve`.
type daemonProc struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
}

func startServe(t *testing.T, env map[string]string, args ...string) *daemonProc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "EDGECASCADE_DATA_DIR="+t.TempDir())
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &bytes.Buffer{}
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				lines <- u
			}
		}
		close(lines)
	}()
	select {
	case u, ok := <-lines:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("serve exited: %s", logs)
		}
		return &daemonProc{cmd: cmd, url: u, logs: logs}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start: %s", logs)
	}
	return nil
}

func healthThreshold(t *testing.T, url string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Threshold float64 `json:"threshold"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.Threshold
}

func writeCalibration(t *testing.T, path, model string, threshold float64) {
	t.Helper()
	f := &calib.File{Version: calib.FileVersion, LocalModel: model, Scorer: "mean_logprob", Method: calib.MethodTargetCloudRate,
		Scorers: map[string]calib.ScorerFit{"mean_logprob": {Threshold: &threshold, Map: calib.Isotonic{X: []float64{0, 1}, Y: []float64{0, 1}}}}}
	if err := f.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

func TestServeLoadsCalibrationAndReloadsOnSIGHUP(t *testing.T) {
	s := needBed(t)
	env := bedEnv(s)
	path := filepath.Join(t.TempDir(), "calibration.json")
	writeCalibration(t, path, ollamatest.Weak, 0.42)
	env["EDGECASCADE_CASCADE_CALIBRATION"] = path
	env["EDGECASCADE_CASCADE_THRESHOLD"] = "0.9" // ignored when a calibration is set
	d := startServe(t, env)
	if got := healthThreshold(t, d.url); got != 0.42 {
		t.Fatalf("threshold %v, want the calibration's 0.42", got)
	}

	writeCalibration(t, path, ollamatest.Weak, 0.77)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return healthThreshold(t, d.url) == 0.77 })

	// A bad file on reload keeps the routing in force.
	os.WriteFile(path, []byte("{not json"), 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(d.logs.String(), "reload failed") })
	if got := healthThreshold(t, d.url); got != 0.77 {
		t.Fatalf("threshold %v after a bad reload, want 0.77", got)
	}

	// SIGTERM: a clean exit.
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, d.logs)
	}
}

func TestServeRefusesCalibrationForAnotherModel(t *testing.T) {
	s := needBed(t)
	path := filepath.Join(t.TempDir(), "calibration.json")
	writeCalibration(t, path, "qwen2.5:0.5b", 0.5)
	cmd := exec.Command(binary, "serve", "--listen", "127.0.0.1:0", "--cascade.calibration", path)
	for k, v := range bedEnv(s) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "EDGECASCADE_DATA_DIR="+t.TempDir()) // an env without HOME
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `"qwen2.5:0.5b"`) || !strings.Contains(string(out), ollamatest.Weak) {
		t.Fatalf("serve with a mismatched calibration: %v\n%s", err, out)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("condition not met within 10s")
}

// TestServeRefusesMismatchedProbe: a probe trained for another local model,
// or on another feature size, stops serve with an error naming both.
func TestServeRefusesMismatchedProbe(t *testing.T) {
	s := needBed(t)
	lib := os.Getenv("EDGECASCADE_ONNXRUNTIME_LIB")
	if lib == "" {
		t.Skip("skipping: EDGECASCADE_ONNXRUNTIME_LIB is not set (scripts/test.sh sets it)")
	}
	for _, tc := range []struct {
		name, model string
		dim         int
		want        []string
	}{
		{"other model", "qwen2.5:0.5b", 128, []string{`"qwen2.5:0.5b"`, ollamatest.Weak}},
		{"other feature size", ollamatest.Weak, 64, []string{"64", "128"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			m := &probe.Logistic{Weights: make([]float64, tc.dim)}
			if err := probe.WriteONNX(&buf, m, probe.Meta{Model: tc.model, FeatureSize: tc.dim, FeatureKind: probe.FeatureAnswer, TrainedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "probe.onnx")
			os.WriteFile(path, buf.Bytes(), 0o600)
			cmd := exec.Command(binary, "serve", "--listen", "127.0.0.1:0", "--cascade.scorer", "probe", "--probe.path", path, "--probe.onnxruntime_lib", lib)
			for k, v := range bedEnv(s) {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			cmd.Env = append(cmd.Env, "EDGECASCADE_DATA_DIR="+t.TempDir()) // an env without HOME
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("serve started with a mismatched probe:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Fatalf("error does not name %s:\n%s", w, out)
				}
			}
		})
	}
	// Without the library the error names the setting and the script.
	cmd := exec.Command(binary, "serve", "--listen", "127.0.0.1:0", "--cascade.scorer", "probe", "--probe.path", "x.onnx")
	for k, v := range bedEnv(s) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "probe.onnxruntime_lib") || !strings.Contains(string(out), "install-onnxruntime.sh") {
		t.Fatalf("missing library: %v\n%s", err, out)
	}
}

func TestCloudProviderChoice(t *testing.T) {
	for _, provider := range []string{"openai", "anthropic"} {
		cfg, err := configs.Load("", nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Cloud.Provider = provider
		p, err := newCloud(cfg)
		if err != nil || p.Name() != provider {
			t.Fatalf("cloud.provider %s: %v, %v", provider, p, err)
		}
	}
}

// TestCloudFallbackChain: the configured provider is down (connection
// refused), the fallback answers; the decision names it and its cost is
// counted.
func TestCloudFallbackChain(t *testing.T) {
	s := needBed(t)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte(`
cloud:
  providers:
    - {provider: openai, base_url: "http://127.0.0.1:1/v1", model: gpt-down, max_retries: 0}
    - {provider: openai, base_url: "`+s.URL+`/v1", model: `+ollamatest.Strong+`, max_retries: 0, cost_input_per_1k: 1, cost_output_per_1k: 2}
cascade:
  threshold: 1.01
`), 0o600)
	env := map[string]string{"EDGECASCADE_LOCAL_URL": s.URL, "EDGECASCADE_LOCAL_MODEL": ollamatest.Weak}
	d := startServe(t, env, "--config", cfg)
	resp, err := http.Post(d.url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"auto","temperature":0,"messages":[{"role":"user","content":"Spell rmzf backwards."}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var c map[string]any
	json.Unmarshal(raw, &c)
	cs, _ := c["cascade"].(map[string]any)
	if resp.StatusCode != 200 || cs["route"] != "cloud" || cs["cloud_model"] != ollamatest.Strong || cs["cloud_provider"] != "openai" {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	m, err := http.Get(d.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(m.Body)
	m.Body.Close()
	if !regexp.MustCompile(`(?m)^edgecascade_cloud_cost_total\{provider="openai"\} 0\.0[0-9]+`).Match(body) {
		t.Fatalf("cost not counted:\n%s", regexp.MustCompile(`(?m)^edgecascade_cloud.*$`).FindAll(body, -1))
	}
}

// TestDecisionLog: the daemon logs every decision, without content by
// default; `log tail` and `log export --jsonl` read it from the running
// daemon and, once it has stopped, from its file.
func TestDecisionLog(t *testing.T) {
	s := needBed(t)
	for _, content := range []bool{false, true} {
		t.Run(fmt.Sprintf("content=%v", content), func(t *testing.T) {
			dataDir := t.TempDir()
			env := bedEnv(s)
			env["EDGECASCADE_DATA_DIR"] = dataDir
			env["EDGECASCADE_LOG_CONTENT"] = strconv.FormatBool(content)
			d := startServe(t, env)
			questions := []string{"Spell rmzf backwards.", "What is 4721 + 3389?"}
			for i, q := range questions {
				user := "" // the first request names its end user: the entry records it
				if i == 0 {
					user = `"user":"u-7",`
				}
				resp, err := http.Post(d.url+"/v1/chat/completions", "application/json",
					strings.NewReader(`{"model":"auto",`+user+`"messages":[{"role":"user","content":"`+q+`"}]}`))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			listen := strings.TrimPrefix(d.url, "http://")
			var out string
			waitFor(t, func() bool {
				out, _, _ = run(t, env, "log", "tail", "--listen", listen)
				return strings.Count(out, "\n") == 2
			})
			if !strings.Contains(out, "auto") || !strings.Contains(out, "mean_logprob score") {
				t.Fatalf("log tail:\n%s", out)
			}
			// Stop the daemon: the file itself is read.
			d.cmd.Process.Signal(syscall.SIGTERM)
			if err := d.cmd.Wait(); err != nil {
				t.Fatal(err)
			}
			exp, stderr, err := run(t, env, "log", "export", "--jsonl", "--listen", listen)
			if err != nil {
				t.Fatalf("export: %v %s", err, stderr)
			}
			lines := strings.Split(strings.TrimSpace(exp), "\n")
			if len(lines) != 2 {
				t.Fatalf("export has %d lines:\n%s", len(lines), exp)
			}
			for i, l := range lines {
				var e map[string]any
				if err := json.Unmarshal([]byte(l), &e); err != nil {
					t.Fatal(err)
				}
				if e["prompt_hash"] == "" || e["policy"] != "auto" || e["scorer"] != "mean_logprob" {
					t.Fatalf("entry %s", l)
				}
				if u, ok := e["user"]; (i == 0) != ok || (ok && u != "u-7") {
					t.Fatalf("entry %d's user: %s", i, l)
				}
				_, hasPrompt := e["prompt"]
				if hasPrompt != content || (content && e["prompt"] != questions[i]) {
					t.Fatalf("log.content=%v but entry %s", content, l)
				}
			}
			if strings.Contains(exp, "rmzf") != content {
				t.Fatalf("prompt text in the export with log.content=%v", content)
			}
		})
	}
}

// TestServePprof checks the opt-in profiles on the real daemon: served with
// server.pprof, absent without, and the API still answers behind them.
func TestServePprof(t *testing.T) {
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	on := startServe(t, nil, "--server.pprof=true", "--local.url", "http://127.0.0.1:9")
	if code, body := get(on.url + "/debug/pprof/heap?debug=1"); code != http.StatusOK || !strings.Contains(body, "heap profile:") {
		t.Fatalf("heap profile: %d %.200s", code, body)
	}
	if code, body := get(on.url + "/metrics"); code != http.StatusOK || !strings.Contains(body, "edgecascade_") {
		t.Fatalf("metrics behind pprof: %d %.200s", code, body)
	}
	off := startServe(t, nil, "--local.url", "http://127.0.0.1:9")
	if code, _ := get(off.url + "/debug/pprof/heap"); code != http.StatusNotFound {
		t.Fatalf("profiles served without server.pprof: %d", code)
	}
}

// TestNoevalBuild builds the daemon-only variant: it leaves out the
// plotting library (whose start-up font parsing costs resident memory) and
// says so when eval is asked for.
func TestNoevalBuild(t *testing.T) {
	deps, err := exec.Command("go", "list", "-deps", "-tags", "noeval", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(deps), "gonum.org/v1/plot") {
		t.Fatal("the noeval build still links gonum.org/v1/plot")
	}
	bin := filepath.Join(t.TempDir(), "edgecascade-noeval")
	if out, err := exec.Command("go", "build", "-tags", "noeval", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "eval", "--data", "x.jsonl", "--out", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "eval is not in this build") {
		t.Fatalf("eval in a noeval build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "config").CombinedOutput(); err != nil || !strings.Contains(string(out), "configuration is valid") {
		t.Fatalf("config in a noeval build: %v\n%s", err, out)
	}
}
