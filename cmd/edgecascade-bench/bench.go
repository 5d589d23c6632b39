package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/httpapi"
	"github.com/edgecascade/edgecascade/cloud"
	cloudmock "github.com/edgecascade/edgecascade/cloud/mock"
	"github.com/edgecascade/edgecascade/configs"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/mock"
	"github.com/edgecascade/edgecascade/uq"
)

// stubServer is the daemon's HTTP API over an in-memory local model with a
// fixed, confident answer with token logprobs (so that only the daemon's own
// work is timed) and a cloud that must never be called: every stub answer
// is accepted.
func stubServer() (*httpapi.Server, error) {
	scorer, err := uq.New(uq.MeanLogprob)
	if err != nil {
		return nil, err
	}
	local := &mock.Model{ModelName: "stub", Answer: models.Response{Model: "stub", Content: "Paris", PromptTokens: 20, CompletionTokens: 2, Tokens: []models.TokenLogprob{
		{Token: "P", Logprob: -0.01, Top: []models.TopLogprob{{Token: "P", Logprob: -0.01}, {Token: "L", Logprob: -5}}},
		{Token: "aris", Logprob: -0.02, Top: []models.TopLogprob{{Token: "aris", Logprob: -0.02}, {Token: "ondon", Logprob: -4}}},
	}}}
	called := func() error { return errors.New("bench: the cloud was called") }
	provider := &cloudmock.Provider{ProviderName: "stub", ModelName: "stub-cloud",
		CompleteFunc: func(context.Context, cloud.Request) (*cloud.Response, error) { return nil, called() },
		StreamFunc:   func(context.Context, cloud.Request, cloud.DeltaFunc) (*cloud.Response, error) { return nil, called() },
	}
	log := slog.New(slog.DiscardHandler)
	c, err := cascade.New(local, provider, cascade.Routing{Scorer: scorer, Threshold: 0}, cascade.Options{TopLogprobs: 5, Log: log})
	if err != nil {
		return nil, err
	}
	return httpapi.NewServer(c, httpapi.ServerConfig{MaxBodyBytes: 1 << 20}, log), nil
}

const benchBody = `{"model":"auto","messages":[{"role":"user","content":"What is the capital of France?"}]}`

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(math.Ceil(p*float64(len(s))))-1]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) + " ms"
}

func benchDirectVsDaemon(ctx context.Context, rep io.Writer, userCfg *configs.Config, exe string, user []string, n int) error {
	localURL, model := userCfg.Local.URL, userCfg.Local.Model
	u, err := url.Parse(localURL)
	if err != nil {
		return err
	}
	q := "Spell rmzf backwards."
	stream := false
	// Both sides are plain HTTP from this client, as an app's would be: the
	// official Go client allocates an 8 MB buffer per call, which would be
	// measured on the direct side only.
	directBody, err := json.Marshal(&api.ChatRequest{Model: model, Stream: &stream, Logprobs: true, TopLogprobs: 5,
		Messages: []api.Message{{Role: "user", Content: q}}})
	if err != nil {
		return err
	}
	chatURL := u.JoinPath("/api/chat").String()
	direct := func() error {
		resp, err := http.Post(chatURL, "application/json", bytes.NewReader(directBody))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("ollama: %s", resp.Status)
		}
		return nil
	}
	if err := direct(); err != nil {
		return fmt.Errorf("Ollama at %s with model %s: %w", localURL, model, err)
	}
	// The daemon, edgecascade serve on loopback with the user's settings,
	// a threshold of 0 so that every answer is accepted locally, and no
	// decision log.
	args := append([]string{"serve"}, user...)
	args = append(args, "--listen", "127.0.0.1:0", "--local.url", localURL, "--local.model", model,
		"--cascade.scorer", uq.MeanLogprob, "--cascade.threshold", "0", "--cascade.calibration", "", "--probe.path", "", "--probe.pregen_path", "", "--log.decisions=false")
	d, err := startDaemon(ctx, exe, args, nil)
	if err != nil {
		return fmt.Errorf("edgecascade serve: %w", err)
	}
	defer d.stop()
	body := `{"model":"auto","messages":[{"role":"user","content":"` + q + `"}]}`
	viaDaemon := func() error {
		resp, err := http.Post(d.base+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Cascade-Route") != "local" {
			return fmt.Errorf("daemon: %s route %q", resp.Status, resp.Header.Get("X-Cascade-Route"))
		}
		return nil
	}
	var dt, vt []time.Duration
	for i := 0; i < n; i++ { // interleaved, so drift hits both sides alike
		for _, side := range []struct {
			f   func() error
			out *[]time.Duration
		}{{direct, &dt}, {viaDaemon, &vt}} {
			start := time.Now()
			if err := side.f(); err != nil {
				return err
			}
			*side.out = append(*side.out, time.Since(start))
		}
	}
	fmt.Fprintf(rep, "## 1. Ollama direct vs. through the daemon (model %s, accepted locally, %d each, interleaved)\n\n", model, n)
	fmt.Fprintf(rep, "| | p50 | p95 |\n|---|---|---|\n| Ollama `/api/chat` | %s | %s |\n| through edgecascade | %s | %s |\n", ms(percentile(dt, .5)), ms(percentile(dt, .95)), ms(percentile(vt, .5)), ms(percentile(vt, .95)))
	fmt.Fprintf(rep, "| **ratio** (goal ≤ 1.03) | **%.3f** | **%.3f** |\n\n", float64(percentile(vt, .5))/float64(percentile(dt, .5)), float64(percentile(vt, .95))/float64(percentile(dt, .95)))
	return nil
}

func benchOverhead(rep io.Writer) {
	srv, err := stubServer()
	if err != nil {
		fmt.Fprintf(rep, "## 2. Overhead\n\nfailed: %v\n\n", err)
		return
	}
	h := srv.Handler()
	handler := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w := &discardWriter{h: http.Header{}}
			r, _ := http.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(benchBody))
			h.ServeHTTP(w, r)
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		}
	})
	fmt.Fprintf(rep, "## 2. Routing + scoring overhead (stub local backend, in process)\n\n| what | µs/op | allocs/op | B/op | goal |\n|---|---|---|---|---|\n")
	fmt.Fprintf(rep, "| whole HTTP handler: decode, route, score, encode | %.1f | %d | %d | ≤ 50 µs |\n\n",
		float64(handler.NsPerOp())/1000, handler.AllocsPerOp(), handler.AllocedBytesPerOp())
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}
func (w *discardWriter) WriteHeader(s int) { w.status = s }

func benchThroughput(ctx context.Context, rep io.Writer) (float64, error) {
	srv, err := stubServer()
	if err != nil {
		return 0, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	target := "http://" + ln.Addr().String() + "/v1/chat/completions"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	fmt.Fprintf(rep, "## 3. Requests/s over loopback HTTP (stub local backend, 3 s each)\n\n| concurrency | req/s | goal |\n|---|---|---|\n")
	var peak float64
	for _, conc := range []int{1, 8, 64} {
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		deadline := time.Now().Add(3 * time.Second)
		start := time.Now()
		errc := make(chan error, conc)
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				count := 0
				for time.Now().Before(deadline) && ctx.Err() == nil {
					resp, err := client.Post(target, "application/json", bytes.NewReader([]byte(benchBody)))
					if err != nil {
						errc <- err
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					count++
				}
				mu.Lock()
				total += count
				mu.Unlock()
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
	sample:
		for {
			select {
			case <-done:
				break sample
			case <-time.After(250 * time.Millisecond):
				peak = max(peak, rssMB())
			}
		}
		select {
		case err := <-errc:
			return 0, err
		default:
		}
		fmt.Fprintf(rep, "| %d | %.0f | ≥ 5,000 |\n", conc, float64(total)/time.Since(start).Seconds())
	}
	fmt.Fprintln(rep)
	return peak, nil
}

// rssMB is this process's resident memory (Linux /proc), or NaN elsewhere.
func rssMB() float64 { return procStatusMB("self", "VmRSS:") }

// procStatusMB reads one kB field of /proc/PID/status in MB.
func procStatusMB(pid, field string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return math.NaN()
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return math.NaN()
}
