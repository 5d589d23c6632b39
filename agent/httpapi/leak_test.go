package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/agent/admission"
	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/httpapi"
	"github.com/edgecascade/edgecascade/cloud"
	cloudmock "github.com/edgecascade/edgecascade/cloud/mock"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/mock"
	"github.com/edgecascade/edgecascade/uq"
)

// The leak test's local model and cloud are in memory: its subject is the
// daemon itself (HTTP handlers, the limiter, streaming, cancellation), run
// thousands of times, which a real model on two shared cores cannot do in a
// unit test. The real-Ollama behaviour of the limiter is covered in
// admission_http_test.go.

// hangPrompt makes memLocal block until the request's context ends: a
// client that gives up during generation or while queued.
const hangPrompt = "hang"

var memTokens = []models.TokenLogprob{
	{Token: "P", Logprob: -0.01, Top: []models.TopLogprob{{Token: "P", Logprob: -0.01}}},
	{Token: "aris", Logprob: -0.02, Top: []models.TopLogprob{{Token: "aris", Logprob: -0.02}}},
}

// memLocal answers "Paris" confidently after a short pause (which lets
// requests overlap), or hangs for hangPrompt.
func memLocal() *mock.Model {
	return &mock.Model{ModelName: "mem", ChatFunc: func(ctx context.Context, req models.Request) (*models.Response, error) {
		pause := 200 * time.Microsecond
		if last := req.Messages[len(req.Messages)-1].Content; last == hangPrompt {
			pause = time.Hour
		}
		t := time.NewTimer(pause)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, &models.Error{Backend: "mem", Model: "mem", Kind: models.ErrUnavailable, Err: ctx.Err()}
		}
		return &models.Response{Model: "mem", Content: "Paris", Tokens: memTokens, PromptTokens: 9, CompletionTokens: 2, FinishReason: "stop"}, nil
	}}
}

// memCloud answers at once; it is where busy auto requests go.
func memCloud() *cloudmock.Provider {
	return &cloudmock.Provider{ProviderName: "mem", ModelName: "mem-cloud",
		Answer: cloud.Response{Content: "Paris.", Usage: cloud.Usage{PromptTokens: 9, CompletionTokens: 2}}}
}

// loadKind is one kind of request in the load test.
type loadKind struct {
	name   string
	path   string
	body   string
	stream bool
	// cancelAfter, when set, is the client's own timeout: it gives up.
	cancelAfter time.Duration
}

func loadBody(model, prompt string, stream bool) string {
	b, _ := json.Marshal(map[string]any{"model": model, "stream": stream, "messages": []map[string]string{{"role": "user", "content": prompt}}})
	return string(b)
}

var loadKinds = []loadKind{
	{name: "local", path: "/v1/chat/completions", body: loadBody("local", "capital of France?", false)},
	{name: "local stream", path: "/v1/chat/completions", body: loadBody("local", "capital of France?", true), stream: true},
	{name: "auto", path: "/v1/chat/completions", body: loadBody("auto", "capital of France?", false)},
	{name: "auto stream", path: "/v1/chat/completions", body: loadBody("auto", "capital of France?", true), stream: true},
	{name: "ollama stream", path: "/api/chat", body: loadBody("local", "capital of France?", true), stream: true},
	{name: "canceled", path: "/v1/chat/completions", body: loadBody("local", hangPrompt, false), cancelAfter: 5 * time.Millisecond},
}

type loadOutcome int

const (
	outcomeOK loadOutcome = iota
	outcomeBusy
	outcomeCanceled
)

// do sends one request and reads the whole answer, checking that it is a
// complete answer or a well-formed refusal.
func (k loadKind) do(ctx context.Context, client *http.Client, base string) (loadOutcome, error) {
	if k.cancelAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, k.cancelAfter)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+k.path, strings.NewReader(k.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		if k.cancelAfter > 0 && errors.Is(err, context.DeadlineExceeded) {
			return outcomeCanceled, nil
		}
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		if k.cancelAfter > 0 && errors.Is(err, context.DeadlineExceeded) {
			return outcomeCanceled, nil
		}
		return 0, err
	}
	switch resp.StatusCode {
	case http.StatusServiceUnavailable:
		if resp.Header.Get("Retry-After") == "" || !bytes.Contains(body, []byte("local model busy")) {
			return 0, fmt.Errorf("%s: 503 without Retry-After or reason: %s", k.name, body)
		}
		return outcomeBusy, nil
	case http.StatusOK:
	default:
		return 0, fmt.Errorf("%s: status %d: %s", k.name, resp.StatusCode, body)
	}
	if k.cancelAfter > 0 {
		return 0, fmt.Errorf("%s: a hanging request was answered: %s", k.name, body)
	}
	var text strings.Builder
	switch {
	case !k.stream:
		var c completion
		if err := json.Unmarshal(body, &c); err != nil || len(c.Choices) != 1 {
			return 0, fmt.Errorf("%s: %s", k.name, body)
		}
		text.WriteString(c.Choices[0].Message.Content)
	case k.path == "/api/chat":
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			var f struct {
				Message struct{ Content string }
				Done    bool
				Error   string
			}
			if err := json.Unmarshal(sc.Bytes(), &f); err != nil || f.Error != "" {
				return 0, fmt.Errorf("%s: frame %s", k.name, sc.Bytes())
			}
			text.WriteString(f.Message.Content)
		}
	default:
		if !bytes.HasSuffix(body, []byte("data: [DONE]\n\n")) {
			return 0, fmt.Errorf("%s: stream not finished: %s", k.name, body)
		}
		for _, line := range strings.Split(string(body), "\n") {
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok || data == "[DONE]" {
				continue
			}
			var ch struct {
				Choices []struct{ Delta struct{ Content string } }
			}
			if err := json.Unmarshal([]byte(data), &ch); err != nil {
				return 0, fmt.Errorf("%s: chunk %s", k.name, data)
			}
			for _, c := range ch.Choices {
				text.WriteString(c.Delta.Content)
			}
		}
	}
	if !strings.HasPrefix(text.String(), "Paris") {
		return 0, fmt.Errorf("%s: answer %q", k.name, text.String())
	}
	return outcomeOK, nil
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestNoLeakUnderLoad runs a few thousand requests at concurrency 64 over
// real HTTP through the daemon's handler (answered, refused, given up,
// streamed), then checks that the goroutine count returns to where it was
// and the live heap stays bounded.
func TestNoLeakUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	const (
		total       = 3000
		concurrency = 64
		// goroutineSlack allows for runtime and net/http helpers that come
		// and go on their own.
		goroutineSlack = 4
		// heapSlack bounds what may stay live: 1 MiB, a few hundred bytes
		// per request; a leak of a request's state is far more.
		heapSlack = 1 << 20
	)
	scorer, err := uq.Build(uq.MeanLogprob, uq.Options{})
	if err != nil {
		t.Fatal(err)
	}
	adm := newAdmission(t, 4, 8)
	cl := memCloud()
	c, err := cascade.New(admission.Admit(memLocal(), adm), cl, cascade.Routing{Scorer: scorer, Threshold: 0.5},
		cascade.Options{TopLogprobs: 1, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.NewServer(c, httpapi.ServerConfig{Admission: adm}, nil)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	transport := &http.Transport{MaxIdleConnsPerHost: concurrency}
	client := &http.Client{Transport: transport}
	ctx := context.Background()

	// Warm up every path once, so that lazily built state (pools, metric
	// children, the transport) is in the baseline, then drop the
	// connections.
	for _, k := range loadKinds {
		if _, err := k.do(ctx, client, hs.URL); err != nil {
			t.Fatalf("warm-up %s: %v", k.name, err)
		}
	}
	transport.CloseIdleConnections()
	pollUntil(t, "the warm-up to finish", func() bool { s := adm.Stats(); return s.Running == 0 && s.Waiting == 0 })
	baseGoroutines := runtime.NumGoroutine()
	baseHeap := heapAlloc()

	var counts [3]atomic.Int64
	jobs := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				o, err := loadKinds[i%len(loadKinds)].do(ctx, client, hs.URL)
				if err != nil {
					once.Do(func() { firstErr = err })
					continue
				}
				counts[o].Add(1)
			}
		}()
	}
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	ok, busy, canceled := counts[outcomeOK].Load(), counts[outcomeBusy].Load(), counts[outcomeCanceled].Load()
	t.Logf("%d answered, %d refused busy, %d given up by the client; %d answered by the cloud", ok, busy, canceled, cl.Calls())
	if ok+busy+canceled != total || ok == 0 || busy == 0 || canceled == 0 {
		t.Fatalf("outcomes %d answered, %d busy, %d canceled of %d: the load did not exercise every path", ok, busy, canceled, total)
	}

	transport.CloseIdleConnections()
	// Handlers of given-up requests may still be unwinding: wait (with a
	// generous deadline) for the limiter to be idle and the goroutines to
	// come back down.
	pollUntil(t, "the limiter to go idle", func() bool { s := adm.Stats(); return s.Running == 0 && s.Waiting == 0 })
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > baseGoroutines+goroutineSlack {
		if time.Now().After(deadline) {
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
			t.Fatalf("goroutines: %d before the load, %d after", baseGoroutines, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
	after := heapAlloc()
	t.Logf("goroutines %d → %d; live heap %d → %d bytes", baseGoroutines, runtime.NumGoroutine(), baseHeap, after)
	if after > baseHeap+heapSlack {
		t.Fatalf("live heap grew from %d to %d bytes after %d requests", baseHeap, after, total)
	}
}
