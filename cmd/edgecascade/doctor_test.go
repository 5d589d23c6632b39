package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/edgecascade/edgecascade/cloud/cloudtest"
	"github.com/edgecascade/edgecascade/cloud/openai/openaitest"
	"github.com/edgecascade/edgecascade/models/ollama"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
	"github.com/edgecascade/edgecascade/probe"
	"github.com/edgecascade/edgecascade/probe/train"
)

const doctorKey = "sk-doctor-test-5f1c2a9e"

// fakeOpenAI is an OpenAI-compatible cloud for doctor's reachability check
// (openaitest: OpenAI's documented wire format, as a paid API cannot run
// here): GET /v1/models with "Authorization: Bearer KEY", else 401 in
// OpenAI's error shape.
func fakeOpenAI(t *testing.T, key string) *openaitest.Server {
	return openaitest.New(t, openaitest.Config{Model: "gpt-4o-mini", Key: key})
}

// doctorLine is one check line of doctor's output.
type doctorLine struct{ status, detail string }

// runDoctor runs the real binary's doctor with only the given settings in
// its environment (no EDGECASCADE_* or API key of the test's own) and
// returns its lines by check name, the whole output and the exit code.
func runDoctor(t *testing.T, bin string, env map[string]string, cred *syscall.Credential, args ...string) (map[string]doctorLine, string, int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"doctor"}, args...)...)
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		if strings.HasPrefix(k, "EDGECASCADE_") || k == "OPENAI_API_KEY" || k == "ANTHROPIC_API_KEY" {
			continue
		}
		cmd.Env = append(cmd.Env, e)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run doctor: %v", err)
	}
	lines := map[string]doctorLine{}
	for _, l := range strings.Split(out.String(), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || (f[0] != "OK" && f[0] != "WARN" && f[0] != "FAIL") {
			continue
		}
		name, detail, _ := strings.Cut(strings.TrimSpace(l[len(f[0]):]), "  ")
		lines[strings.TrimSpace(name)] = doctorLine{f[0], strings.TrimSpace(detail)}
	}
	return lines, out.String(), code
}

// writeTestProbe writes an answer probe for model with dim features.
func writeTestProbe(t *testing.T, path, model string, dim int) {
	t.Helper()
	m := &probe.Logistic{Weights: make([]float64, dim), Bias: 0.3}
	for i := range m.Weights {
		m.Weights[i] = float64(i%7-3) / 10
	}
	var b bytes.Buffer
	if err := probe.WriteONNX(&b, m, probe.Meta{Model: model, FeatureKind: probe.FeatureAnswer, Label: train.Label}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDoctor(t *testing.T) {
	s := needBed(t)
	cloud := fakeOpenAI(t, doctorKey)
	cloudURL := cloud.BaseURL()
	dir := t.TempDir()
	goodCalib := filepath.Join(dir, "calibration.json")
	writeCalibration(t, goodCalib, ollamatest.Weak, 0.6)
	otherCalib := filepath.Join(dir, "other.json")
	writeCalibration(t, otherCalib, ollamatest.Strong, 0.6)
	badCalib := filepath.Join(dir, "bad.json")
	os.WriteFile(badCalib, []byte(`{"version": 1, "local_model": "tiny-weak", "scorers": {`), 0o644)
	notDir := filepath.Join(dir, "a-file")
	os.WriteFile(notDir, nil, 0o644)

	base := func() map[string]string {
		return map[string]string{
			"EDGECASCADE_LOCAL_URL":      s.URL,
			"EDGECASCADE_LOCAL_MODEL":    ollamatest.Weak,
			"EDGECASCADE_CLOUD_BASE_URL": cloudURL,
			"EDGECASCADE_CLOUD_API_KEY":  doctorKey,
			"EDGECASCADE_DATA_DIR":       t.TempDir(),
		}
	}
	with := func(kv ...string) map[string]string {
		m := base()
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	okChecks := []string{"config", "local backend", "local model", "cloud key", "cloud", "data_dir", "calibration"}

	tests := []struct {
		name string
		env  map[string]string
		// want maps check names to their status and a part of their text.
		want      map[string]doctorLine
		wantCloud bool // the fake cloud was asked
	}{
		{"everything in place", with("EDGECASCADE_CASCADE_CALIBRATION", goodCalib), map[string]doctorLine{
			"local backend": {"OK", "ollama "},
			"local model":   {"OK", ollamatest.Weak + " present"},
			"cloud key":     {"OK", "set"},
			"cloud":         {"OK", "answers"},
			"data_dir":      {"OK", "free"},
			"calibration":   {"OK", "threshold 0.600 for mean_logprob"},
		}, true},
		{"model missing", with("EDGECASCADE_LOCAL_MODEL", "tiny-absent"), map[string]doctorLine{
			"local backend": {"OK", "ollama "},
			"local model":   {"FAIL", "`ollama pull tiny-absent`"},
		}, true},
		{"backend down", with("EDGECASCADE_LOCAL_URL", cloudtest.RefusedURL(t)), map[string]doctorLine{
			"local backend": {"FAIL", "ollama serve"},
			"local model":   {"FAIL", "not checked"},
			"cloud":         {"OK", "answers"},
		}, true},
		{"key missing for the provider's own URL", with("EDGECASCADE_CLOUD_API_KEY", "", "EDGECASCADE_CLOUD_BASE_URL", ""), map[string]doctorLine{
			"cloud key": {"FAIL", "OPENAI_API_KEY"},
			"cloud":     {"WARN", "not contacted"},
		}, false},
		{"key missing for a server that needs one", with("EDGECASCADE_CLOUD_API_KEY", ""), map[string]doctorLine{
			"cloud key": {"WARN", "self-hosted"},
			"cloud":     {"FAIL", "401"},
		}, true},
		{"wrong key", with("EDGECASCADE_CLOUD_API_KEY", "sk-wrong-key-0000"), map[string]doctorLine{
			"cloud key": {"OK", "set"},
			"cloud":     {"FAIL", "401"},
		}, true},
		{"bad calibration file", with("EDGECASCADE_CASCADE_CALIBRATION", badCalib), map[string]doctorLine{
			"calibration": {"FAIL", "re-run edgecascade calibrate"},
		}, true},
		{"calibration for another model", with("EDGECASCADE_CASCADE_CALIBRATION", otherCalib), map[string]doctorLine{
			"calibration": {"FAIL", `calibrated for local model "tiny-strong"`},
		}, true},
		{"data_dir is a file", with("EDGECASCADE_DATA_DIR", notDir), map[string]doctorLine{
			"data_dir": {"FAIL", "not a folder"},
		}, true},
		{"data_dir not created yet", with("EDGECASCADE_DATA_DIR", filepath.Join(dir, "new", "sub")), map[string]doctorLine{
			"data_dir": {"WARN", "serve creates it"},
		}, true},
		{"invalid configuration", with("EDGECASCADE_CASCADE_SCORER", "vibes"), map[string]doctorLine{
			"config": {"FAIL", "cascade.scorer"},
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(cloud.Requests())
			lines, out, code := runDoctor(t, binary, tt.env, nil)
			t.Logf("doctor output:\n%s", out)
			if strings.Contains(out, doctorKey) {
				t.Fatalf("doctor printed the API key:\n%s", out)
			}
			fails := 0
			for _, l := range lines {
				if l.status == "FAIL" {
					fails++
				}
			}
			if (code != 0) != (fails > 0) {
				t.Errorf("exit code %d with %d FAIL lines:\n%s", code, fails, out)
			}
			for name, w := range tt.want {
				got, ok := lines[name]
				if !ok || got.status != w.status || !strings.Contains(got.detail, w.detail) {
					t.Errorf("%s: got %+v, want %s containing %q\n%s", name, got, w.status, w.detail, out)
				}
			}
			if tt.name == "everything in place" {
				if code != 0 {
					t.Errorf("exit code %d:\n%s", code, out)
				}
				for _, name := range okChecks {
					if lines[name].status != "OK" {
						t.Errorf("%s: %+v, want OK\n%s", name, lines[name], out)
					}
				}
			}
			if asked := len(cloud.Requests()) > before; asked != tt.wantCloud {
				t.Errorf("fake cloud asked: %v, want %v", asked, tt.wantCloud)
			}
		})
	}
}

// TestDoctorProbes: onnxruntime loads and a probe trained for this model
// and feature size passes; a probe for another model and a missing library
// fail.
func TestDoctorProbes(t *testing.T) {
	s := needBed(t)
	lib := os.Getenv("EDGECASCADE_ONNXRUNTIME_LIB")
	if lib == "" {
		t.Skip("EDGECASCADE_ONNXRUNTIME_LIB is not set: skipping the onnxruntime checks (scripts/install-onnxruntime.sh prints the library's path)")
	}
	cloudURL := fakeOpenAI(t, doctorKey).BaseURL()
	c, err := ollama.New(ollama.Config{URL: s.URL, Model: ollamatest.Weak})
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Features(context.Background(), "edgecascade")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "weak.onnx")
	writeTestProbe(t, good, ollamatest.Weak, len(f))
	wrongDim := filepath.Join(dir, "dim.onnx")
	writeTestProbe(t, wrongDim, ollamatest.Weak, len(f)+1)
	other := filepath.Join(dir, "strong.onnx")
	writeTestProbe(t, other, ollamatest.Strong, len(f))
	// A pre-generation probe without a calibrated threshold: serve needs
	// probe.pregen_threshold, and so does doctor.
	pregen := filepath.Join(dir, "pregen.onnx")
	var pb bytes.Buffer
	if err := probe.WriteONNX(&pb, &probe.Logistic{Weights: make([]float64, len(f))},
		probe.Meta{Model: ollamatest.Weak, FeatureKind: probe.FeaturePrompt, Label: train.Label}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pregen, pb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	env := func(path, lib string) map[string]string {
		return map[string]string{
			"EDGECASCADE_LOCAL_URL": s.URL, "EDGECASCADE_LOCAL_MODEL": ollamatest.Weak,
			"EDGECASCADE_CLOUD_BASE_URL": cloudURL, "EDGECASCADE_CLOUD_API_KEY": doctorKey,
			"EDGECASCADE_DATA_DIR": t.TempDir(), "EDGECASCADE_PROBE_PATH": path, "EDGECASCADE_PROBE_ONNXRUNTIME_LIB": lib,
		}
	}
	withPregen := func(threshold string) map[string]string {
		e := env("", lib)
		e["EDGECASCADE_PROBE_PREGEN_PATH"] = pregen
		if threshold != "" {
			e["EDGECASCADE_PROBE_PREGEN_THRESHOLD"] = threshold
		}
		return e
	}
	tests := []struct {
		name     string
		env      map[string]string
		want     map[string]doctorLine
		wantCode bool
	}{
		{"probe for this model", env(good, lib), map[string]doctorLine{
			"onnxruntime": {"OK", "onnxruntime 1."},
			"probe.path":  {"OK", "answer probe for " + ollamatest.Weak},
		}, false},
		{"probe of another size", env(wrongDim, lib), map[string]doctorLine{
			"onnxruntime": {"OK", "loads"},
			"probe.path":  {"FAIL", "re-run edgecascade probe train"},
		}, true},
		{"probe for another model", env(other, lib), map[string]doctorLine{
			"probe.path": {"FAIL", `trained for local model "tiny-strong"`},
		}, true},
		{"pre-generation probe without a threshold", withPregen(""), map[string]doctorLine{
			"probe.pregen_path": {"FAIL", "set probe.pregen_threshold"},
		}, true},
		{"pre-generation probe with probe.pregen_threshold", withPregen("0.2"), map[string]doctorLine{
			"probe.pregen_path": {"OK", "prompt probe for " + ollamatest.Weak},
		}, false},
		{"library missing", env(good, filepath.Join(dir, "no", "libonnxruntime.so.1")), map[string]doctorLine{
			"onnxruntime": {"FAIL", "install-onnxruntime.sh"},
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, out, code := runDoctor(t, binary, tt.env, nil)
			if (code != 0) != tt.wantCode {
				t.Errorf("exit code %d:\n%s", code, out)
			}
			for name, w := range tt.want {
				got := lines[name]
				if got.status != w.status || !strings.Contains(got.detail, w.detail) {
					t.Errorf("%s: got %+v, want %s containing %q\n%s", name, got, w.status, w.detail, out)
				}
			}
		})
	}
}

// TestDoctorReadOnlyDataDir: a data_dir the service user cannot write
// fails. Root writes anywhere, so as root the binary runs as nobody
// (uid 65534) on a folder owned by root, as a system service would.
func TestDoctorReadOnlyDataDir(t *testing.T) {
	s := needBed(t)
	cloudURL := fakeOpenAI(t, doctorKey).BaseURL()
	// A folder anyone can traverse, for the binary and the data_dir.
	top, err := os.MkdirTemp("", "edgecascade-doctor-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(top, "data"), 0o755); os.RemoveAll(top) })
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(top, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := binary
	var cred *syscall.Credential
	if os.Getuid() == 0 {
		bin = filepath.Join(top, "edgecascade")
		b, err := os.ReadFile(binary)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	} else if err := os.Chmod(data, 0o555); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"EDGECASCADE_LOCAL_URL": s.URL, "EDGECASCADE_LOCAL_MODEL": ollamatest.Weak,
		"EDGECASCADE_CLOUD_BASE_URL": cloudURL, "EDGECASCADE_CLOUD_API_KEY": doctorKey,
		"EDGECASCADE_DATA_DIR": data,
	}
	lines, out, code := runDoctor(t, bin, env, cred)
	if got := lines["data_dir"]; got.status != "FAIL" || !strings.Contains(got.detail, "not writable") || !strings.Contains(got.detail, "permission denied") {
		t.Fatalf("data_dir: %+v\n%s", got, out)
	}
	if code == 0 {
		t.Fatalf("exit code 0 with a read-only data_dir:\n%s", out)
	}
	// The same folder made writable passes: the check is about the folder.
	if cred != nil {
		os.Chown(data, 65534, 65534)
	} else {
		os.Chmod(data, 0o755)
	}
	lines, out, _ = runDoctor(t, bin, env, cred)
	if got := lines["data_dir"]; got.status != "OK" {
		t.Fatalf("writable data_dir: %+v\n%s", got, out)
	}
}

// TestDoctorStages: doctor checks the model of every local stage after the
// first (cascade.stages): present passes, missing fails naming the stage.
func TestDoctorStages(t *testing.T) {
	s := needBed(t)
	cloud := fakeOpenAI(t, doctorKey)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	body := `
local: {url: "` + s.URL + `"}
cascade:
  stages:
    - {name: weak, backend: ollama, model: ` + ollamatest.Weak + `}
    - {name: strong, backend: ollama, model: ` + ollamatest.Strong + `}
    - {name: huge, backend: ollama, model: tiny-absent}
    - {name: frontier, provider: openai, base_url: "` + cloud.BaseURL() + `", model: m, api_key_env: DOCTOR_KEY}
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	lines, out, code := runDoctor(t, binary, map[string]string{"DOCTOR_KEY": doctorKey, "EDGECASCADE_DATA_DIR": t.TempDir()}, nil, "--config", cfg)
	if l := lines["stage strong"]; l.status != "OK" || !strings.Contains(l.detail, ollamatest.Strong+" present") {
		t.Errorf("stage strong: %+v\n%s", l, out)
	}
	if l := lines["stage huge"]; l.status != "FAIL" || !strings.Contains(l.detail, "tiny-absent is not present") {
		t.Errorf("stage huge: %+v\n%s", l, out)
	}
	if code == 0 {
		t.Errorf("doctor passed with a stage's model missing:\n%s", out)
	}
}
