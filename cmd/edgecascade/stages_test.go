package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

// Three stages on the real test bed: tiny-weak (Ollama) → tiny-strong
// (Ollama) → cloudsim, the frontier-model simulator of the shared test bed.

// cloudsimDir is the simulator's source: $EDGECASCADE_CLOUDSIM_DIR, else
// shared/testbed/cloudsim beside the project's folder.
func cloudsimDir() (string, error) {
	if d := os.Getenv("EDGECASCADE_CLOUDSIM_DIR"); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working folder")
		}
		dir = parent
	}
	d := filepath.Join(filepath.Dir(dir), "shared", "testbed", "cloudsim")
	if _, err := os.Stat(filepath.Join(d, "main.go")); err != nil {
		return "", fmt.Errorf("cloudsim not found at %s (set EDGECASCADE_CLOUDSIM_DIR)", d)
	}
	return d, nil
}

// cloudsim is a running simulator.
type cloudsim struct{ url string }

// startCloudsim builds and starts cloudsim on a free loopback port with the
// test bed's answer key, stopped when the test ends.
func startCloudsim(t *testing.T, args ...string) *cloudsim {
	t.Helper()
	src, err := cloudsimDir()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "cloudsim")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build cloudsim: %v\n%s", err, out)
	}
	data := testbedFile(t, "calib.jsonl") + "," + testbedFile(t, "val.jsonl")
	cmd := exec.Command(bin, append([]string{"-data", data, "-listen", "127.0.0.1:0", "-latency", "20ms", "-chunk-delay", "0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "cloudsim listening on "); ok {
				urls <- strings.Fields(rest)[0]
			}
		}
		close(urls)
	}()
	select {
	case u, ok := <-urls:
		if !ok {
			t.Fatal("cloudsim exited")
		}
		return &cloudsim{url: u}
	case <-time.After(30 * time.Second):
		t.Fatal("cloudsim did not start")
	}
	return nil
}

// calls is the simulator's call count.
func (c *cloudsim) calls(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(c.url + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Calls int `json:"calls"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Calls
}

// threeStages starts the daemon with weak → strong → frontier; strongURL
// and cloudURL replace the strong stage's and the cloud's URLs when set.
func threeStages(t *testing.T, s *ollamatest.Server, strongURL, cloudURL string) *daemonProc {
	t.Helper()
	if strongURL == "" {
		strongURL = s.URL
	}
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	body := `
local: {url: "` + s.URL + `"}
cloud: {max_retries: 0, timeout: 10s}
cascade:
  stages:
    - {name: weak, backend: ollama, model: ` + ollamatest.Weak + `, threshold: 0.95}
    - {name: strong, backend: ollama, url: "` + strongURL + `", model: ` + ollamatest.Strong + `, threshold: 0.9}
    - {name: frontier, provider: openai, base_url: "` + cloudURL + `/v1", model: frontier-sim}
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServe(t, map[string]string{"OPENAI_API_KEY": "test"}, "--config", cfg)
}

type stageTry struct {
	Name    string   `json:"name"`
	Score   *float64 `json:"score"`
	Skipped string   `json:"skipped"`
}

type stagesCascade struct {
	Route      string     `json:"route"`
	Stage      int        `json:"stage"`
	Stages     []stageTry `json:"stages"`
	Reason     string     `json:"reason"`
	Deferred   bool       `json:"deferred"`
	LocalModel string     `json:"local_model"`
}

type stagesAnswer struct {
	content string
	cascade stagesCascade
}

// askStages asks the daemon, plainly or streamed.
func askStages(t *testing.T, url, model, prompt string, stream bool) stagesAnswer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"model": model, "stream": stream, "temperature": 0,
		"messages": []map[string]string{{"role": "user", "content": prompt}}})
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var a stagesAnswer
	if !stream {
		var c struct {
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
			Cascade stagesCascade `json:"cascade"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
			t.Fatal(err)
		}
		return stagesAnswer{content: c.Choices[0].Message.Content, cascade: c.Cascade}
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var ch struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Cascade *stagesCascade `json:"cascade"`
		}
		if err := json.Unmarshal([]byte(data), &ch); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		if ch.Cascade != nil {
			a.cascade = *ch.Cascade // the last one is the final word
		}
		for _, c := range ch.Choices {
			a.content += c.Delta.Content
		}
	}
	return a
}

// bedPrompts are the first n prompts of val.jsonl.
func bedPrompts(t *testing.T, n int) []string {
	t.Helper()
	b, err := os.ReadFile(testbedFile(t, "val.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.SplitN(string(b), "\n", n+1)[:n] {
		var it struct {
			Prompt string `json:"prompt"`
		}
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			t.Fatal(err)
		}
		out = append(out, it.Prompt)
	}
	return out
}

func stageNames(c stagesCascade) []string {
	var out []string
	for _, s := range c.Stages {
		out = append(out, s.Name)
	}
	return out
}

// Each stage answers some questions; the stages tried are listed in order
// with their scores; streams equal plain answers; policy local never
// reaches the cloud stage.
func TestThreeStages(t *testing.T) {
	s := needBed(t)
	sim := startCloudsim(t)
	d := threeStages(t, s, "", sim.url)
	order := []string{"weak", "strong", "frontier"}
	routes := map[string]int{}
	var escalated []string
	for _, p := range bedPrompts(t, 24) {
		a := askStages(t, d.url, "auto", p, false)
		c := a.cascade
		routes[c.Route]++
		i := slices.Index(order, c.Route)
		if i < 0 || c.Stage != i || !slices.Equal(stageNames(c), order[:i+1]) {
			t.Fatalf("%q: route %s stage %d stages %v", p, c.Route, c.Stage, stageNames(c))
		}
		for _, st := range c.Stages[:min(i+1, 2)] {
			if st.Score == nil || st.Skipped != "" {
				t.Errorf("%q: stage %+v has no score", p, st)
			}
		}
		if i > 0 && !strings.Contains(c.Reason, "stage weak: mean_logprob score") {
			t.Errorf("%q: reason %q", p, c.Reason)
		}
		if c.Route == "frontier" {
			escalated = append(escalated, p)
		}
		st := askStages(t, d.url, "auto", p, true)
		if st.content != a.content || st.cascade.Route != c.Route || st.cascade.Stage != c.Stage {
			t.Errorf("%q: streamed %q by %s, plain %q by %s", p, st.content, st.cascade.Route, a.content, c.Route)
		}
	}
	for _, r := range order {
		if routes[r] == 0 {
			t.Errorf("stage %s answered none of the questions: %v", r, routes)
		}
	}
	t.Logf("routes %v", routes)

	// The summary counts the cloud stage's answers as cloud (by the log's
	// cloud mark, whatever the stage's name) and lists the local stages'
	// thresholds. Each question was asked twice (plain and streamed).
	var sum struct {
		Today struct {
			Requests, Local, Cloud int
		} `json:"today"`
		Confidence struct {
			Stages []struct {
				Name      string  `json:"name"`
				Threshold float64 `json:"threshold"`
			} `json:"stages"`
		} `json:"confidence"`
	}
	// The decision log is written in the background: wait for the last.
	waitFor(t, func() bool {
		resp, err := http.Get(d.url + "/v1/cascade/summary")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&sum)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return sum.Today.Requests >= 48
	})
	if sum.Today.Cloud != 2*routes["frontier"] || sum.Today.Local != 2*(routes["weak"]+routes["strong"]) {
		t.Errorf("summary today %+v, routes %v (each asked twice)", sum.Today, routes)
	}
	if len(sum.Confidence.Stages) != 2 || sum.Confidence.Stages[0].Name != "weak" || sum.Confidence.Stages[1].Name != "strong" {
		t.Errorf("summary stages %+v", sum.Confidence.Stages)
	}

	before := sim.calls(t)
	for _, p := range escalated {
		a := askStages(t, d.url, "local", p, false)
		if a.cascade.Route != "strong" || !strings.HasPrefix(a.cascade.Reason, "policy local") {
			t.Errorf("policy local %q: route %s reason %q", p, a.cascade.Route, a.cascade.Reason)
		}
		if st := askStages(t, d.url, "local", p, true); st.content != a.content || st.cascade.Route != "strong" {
			t.Errorf("policy local %q streamed %q by %s, plain %q", p, st.content, st.cascade.Route, a.content)
		}
	}
	if after := sim.calls(t); after != before {
		t.Errorf("policy local called the cloud stage %d times", after-before)
	}
}

// A stage that is down is skipped with the reason; when the cloud stage is
// out of reach the last local answer is returned and the escalation
// deferred.
func TestThreeStagesDown(t *testing.T) {
	s := needBed(t)
	sim := startCloudsim(t)
	prompts := bedPrompts(t, 24)

	down := threeStages(t, s, "http://127.0.0.1:1", sim.url)
	seen := 0
	for _, p := range prompts {
		c := askStages(t, down.url, "auto", p, false).cascade
		if c.Route == "weak" {
			continue
		}
		seen++
		if c.Route != "frontier" || len(c.Stages) != 3 || c.Stages[1].Name != "strong" || c.Stages[1].Skipped == "" ||
			!strings.Contains(c.Reason, "stage strong unavailable") || !strings.Contains(c.Reason, "skipped") {
			t.Fatalf("%q with strong down: %+v", p, c)
		}
	}
	if seen == 0 {
		t.Fatal("the weak stage accepted every question")
	}

	offline := threeStages(t, s, "", "http://127.0.0.1:1")
	deferred := 0
	for _, p := range prompts {
		c := askStages(t, offline.url, "auto", p, false).cascade
		if c.Route == "frontier" {
			t.Fatalf("%q answered by an unreachable cloud", p)
		}
		if c.Deferred {
			deferred++
			if c.Route != "strong" || c.Stage != 1 || !strings.Contains(c.Reason, "deferred as") {
				t.Errorf("%q deferred: %+v", p, c)
			}
		}
	}
	if deferred == 0 {
		t.Error("nothing deferred with the cloud stage unreachable")
	}
}
