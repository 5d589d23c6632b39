// Command demo shows the cascade's main job on the test bed: it starts a real
// Ollama with the test bed's weak model (local) and strong model (standing in
// for the cloud, through Ollama's OpenAI-compatible API), starts the
// edgecascade daemon binary against them, sends test bed questions and prints
// each answer's route, confidence and correctness.
//
// Usage: go run ./scripts/demo -bin ./bin/edgecascade [-n 12] [-threshold 0.9]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

type item struct {
	Task   string `json:"task"`
	Prompt string `json:"prompt"`
	Answer string `json:"answer"`
}

func main() {
	bin := flag.String("bin", "./bin/edgecascade", "edgecascade binary")
	n := flag.Int("n", 12, "questions to send")
	threshold := flag.String("threshold", "0.9", "cascade.threshold (used when -calibration is empty)")
	calibration := flag.String("calibration", "", "calibration file for cascade.calibration")
	flag.Parse()
	if err := run(*bin, *n, *threshold, *calibration); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(bin string, n int, threshold, calibration string) error {
	fmt.Println("starting Ollama with the test bed models (weak = local, strong = cloud)...")
	srv, cleanup, err := ollamatest.StartTemp(ollamatest.Weak, ollamatest.Strong)
	defer cleanup()
	if err != nil {
		return err
	}
	items, err := readItems(n)
	if err != nil {
		return err
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(os.Environ(),
		"EDGECASCADE_LISTEN="+addr,
		"EDGECASCADE_LOCAL_URL="+srv.URL,
		"EDGECASCADE_LOCAL_MODEL="+ollamatest.Weak,
		"EDGECASCADE_CLOUD_BASE_URL="+srv.URL+"/v1",
		"EDGECASCADE_CLOUD_MODEL="+ollamatest.Strong,
		"EDGECASCADE_CASCADE_THRESHOLD="+threshold,
		"EDGECASCADE_CASCADE_CALIBRATION="+calibration,
		"EDGECASCADE_LOG_LEVEL=warn",
		"EDGECASCADE_DATA_DIR="+filepath.Join(os.TempDir(), "edgecascade-demo"),
	)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening on ") {
				ready <- strings.TrimPrefix(sc.Text(), "listening on ")
			}
		}
	}()
	var base string
	select {
	case base = <-ready:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("daemon did not start within 30s")
	}
	th, err := thresholdInForce(base)
	if err != nil {
		return err
	}
	fmt.Printf("edgecascade serving on %s (local %s, cloud %s); escalates below threshold %s\n\n", base, ollamatest.Weak, ollamatest.Strong, th)

	fmt.Printf("%-40s %-6s %-6s %-11s %-12s %-12s %s\n", "QUESTION", "ROUTE", "SCORE", "P(RIGHT)", "ANSWER", "EXPECTED", "RIGHT")
	var local, right int
	for _, it := range items {
		ans, route, score, conf, err := ask(base, it.Prompt)
		if err != nil {
			return err
		}
		ok := strings.TrimSpace(ans) == it.Answer
		if route == "local" {
			local++
		}
		if ok {
			right++
		}
		fmt.Printf("%-40s %-6s %-6s %-11s %-12s %-12s %v\n", clip(it.Prompt, 40), route, score, conf, clip(ans, 12), clip(it.Answer, 12), ok)
	}
	fmt.Printf("\n%d of %d answered locally, %d escalated to the cloud; %d of %d right\n", local, len(items), len(items)-local, right, len(items))
	return nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

// readItems takes the first n items of val.jsonl, spread over its tasks.
func readItems(n int) ([]item, error) {
	bed, err := ollamatest.TestbedDir()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(bed, "data", "val.jsonl"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var items []item
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(items) < n {
		var it item
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, sc.Err()
}

// ask sends one question and returns the answer, the route, the raw score
// the threshold applies to, and the calibrated probability that the local
// answer is right.
func ask(base, q string) (answer, route, score, confidence string, err error) {
	body, _ := json.Marshal(map[string]any{"model": "auto", "temperature": 0,
		"messages": []map[string]string{{"role": "user", "content": q}}})
	resp, err := http.Post(base+"/v1/chat/completions", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", "", "", "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", "", "", "", fmt.Errorf("status %d: %s", resp.StatusCode, raw)
	}
	var r struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
		Cascade struct {
			Route      string   `json:"route"`
			Score      *float64 `json:"score"`
			Confidence *float64 `json:"confidence"`
		} `json:"cascade"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Choices) == 0 {
		return "", "", "", "", fmt.Errorf("bad response %s", raw)
	}
	f := func(v *float64) string {
		if v == nil {
			return "n/a"
		}
		return fmt.Sprintf("%.3f", *v)
	}
	return r.Choices[0].Message.Content, r.Cascade.Route, f(r.Cascade.Score), f(r.Cascade.Confidence), nil
}

// thresholdInForce reads the scorer and threshold from /healthz.
func thresholdInForce(base string) (string, error) {
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var h struct {
		Scorer    string  `json:"scorer"`
		Threshold float64 `json:"threshold"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return "", err
	}
	return fmt.Sprintf("%.3f (%s)", h.Threshold, h.Scorer), nil
}
