package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/edgecascade/edgecascade/agent/admission"
)

// holdSlot takes one of the limiter's slots for the rest of the test, or
// until the returned function is called: it stands in for a long local
// generation in progress, so that "busy" does not depend on timing.
func holdSlot(t *testing.T, a *admission.Limiter) func() {
	t.Helper()
	release, err := a.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return release
}

func checkRetryAfter(t *testing.T, resp *http.Response) {
	t.Helper()
	ra := resp.Header.Get("Retry-After")
	n, err := strconv.Atoi(ra)
	if err != nil || n < 1 {
		t.Fatalf("Retry-After %q, want whole seconds >= 1", ra)
	}
}

// TestBusyLocalRoutesAnswer503 covers each route under policy local while
// the local model is busy and no waiting is allowed: 503, Retry-After, and
// each API's own error shape; the cloud is never called.
func TestBusyLocalRoutesAnswer503(t *testing.T) {
	adm := newAdmission(t, 1, 0)
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, admission: adm})
	holdSlot(t, adm)
	tests := []struct {
		name, path string
		body       any
		openai     bool
	}{
		{"v1", "/v1/chat/completions", chatBody("local", easyQuestion, false), true},
		{"v1 stream", "/v1/chat/completions", chatBody("local", easyQuestion, true), true},
		{"api chat", "/api/chat", map[string]any{"model": "local", "stream": false, "messages": []map[string]string{{"role": "user", "content": easyQuestion}}}, false},
		{"api chat stream", "/api/chat", map[string]any{"model": "local", "messages": []map[string]string{{"role": "user", "content": easyQuestion}}}, false},
		{"api generate", "/api/generate", map[string]any{"model": "local", "prompt": easyQuestion}, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw := post(t, d.URL+tc.path, tc.body)
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503: %s", resp.StatusCode, raw)
			}
			checkRetryAfter(t, resp)
			if tc.openai {
				var c completion
				if err := json.Unmarshal(raw, &c); err != nil || c.Error == nil {
					t.Fatalf("not the OpenAI error shape: %s", raw)
				}
				if c.Error.Code != "local_busy" || c.Error.Type != "server_error" || !strings.Contains(c.Error.Message, "local.max_queue") {
					t.Fatalf("error %+v, want code local_busy naming local.max_queue", *c.Error)
				}
			} else {
				var e struct{ Error string }
				if err := json.Unmarshal(raw, &e); err != nil || !strings.Contains(e.Error, "local model busy") {
					t.Fatalf("not Ollama's error shape naming the busy model: %s", raw)
				}
			}
			if got := adm.Stats().Rejected; got != uint64(i+1) {
				t.Fatalf("rejected counter %d, want %d", got, i+1)
			}
		})
	}
	if n := d.cloudCalls(); n != 0 {
		t.Fatalf("policy local reached the cloud %d times", n)
	}
}

// TestBurstOverCapacity sends more requests at once than the local model
// may run and queue: exactly the overflow gets 503 with Retry-After, and
// every admitted request completes with a local answer.
func TestBurstOverCapacity(t *testing.T) {
	const queue, overflow = 3, 4
	adm := newAdmission(t, 1, queue)
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, admission: adm})
	release := holdSlot(t, adm)

	type outcome struct {
		resp *http.Response
		raw  []byte
	}
	results := make(chan outcome, queue+overflow)
	var wg sync.WaitGroup
	for range queue + overflow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, raw := post(t, d.URL+"/v1/chat/completions", chatBody("local", easyQuestion, false))
			results <- outcome{resp, raw}
		}()
	}
	// Everyone has arrived: the queue is full and the rest were refused.
	pollUntil(t, "the burst to arrive", func() bool {
		s := adm.Stats()
		return s.Waiting == queue && s.Rejected == overflow
	})
	m := scrape(t, d)
	if v := metric(t, m, "edgecascade_local_queue_depth"); v != queue {
		t.Fatalf("queue depth gauge %v, want %d", v, queue)
	}
	if v := metric(t, m, "edgecascade_local_in_flight"); v != 1 {
		t.Fatalf("in-flight gauge %v, want 1", v)
	}
	release() // the long generation ends; the queue drains
	wg.Wait()
	close(results)
	var ok, busy int
	for r := range results {
		switch r.resp.StatusCode {
		case http.StatusOK:
			ok++
			var c completion
			if err := json.Unmarshal(r.raw, &c); err != nil || len(c.Choices) != 1 || c.Choices[0].Message.Content == "" {
				t.Fatalf("admitted request without an answer: %s", r.raw)
			}
			if c.Cascade == nil || c.Cascade.Route != "local" {
				t.Fatalf("admitted request not answered locally: %s", r.raw)
			}
		case http.StatusServiceUnavailable:
			busy++
			checkRetryAfter(t, r.resp)
		default:
			t.Fatalf("status %d: %s", r.resp.StatusCode, r.raw)
		}
	}
	if ok != queue || busy != overflow {
		t.Fatalf("%d answered and %d refused, want %d and %d", ok, busy, queue, overflow)
	}
	if s := adm.Stats(); s.Running != 0 || s.Waiting != 0 {
		t.Fatalf("limiter not idle after the burst: %+v", s)
	}
	if v := metric(t, scrape(t, d), "edgecascade_local_rejected_total"); v != overflow {
		t.Fatalf("rejected counter %v, want %d", v, overflow)
	}
}

// TestUnheldBurstAgainstRealOllama fires a burst at the real model with
// nothing held: how many get in depends on timing, but every request is
// either answered or refused with Retry-After, the refusals match the
// counter, and at least the first is answered.
func TestUnheldBurstAgainstRealOllama(t *testing.T) {
	const n = 8
	adm := newAdmission(t, 1, 2)
	d := newDaemon(t, daemonOpts{threshold: 0.5, admission: adm})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := chatBody("local", easyQuestion, i%2 == 1)
			resp, raw := post(t, d.URL+"/v1/chat/completions", body)
			switch resp.StatusCode {
			case http.StatusOK:
				if len(raw) == 0 {
					t.Errorf("empty answer")
				}
			case http.StatusServiceUnavailable:
				checkRetryAfter(t, resp)
			default:
				t.Errorf("status %d: %s", resp.StatusCode, raw)
			}
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[http.StatusOK] < 1 || codes[http.StatusOK]+codes[http.StatusServiceUnavailable] != n {
		t.Fatalf("outcomes %v", codes)
	}
	s := adm.Stats()
	if s.Rejected != uint64(codes[http.StatusServiceUnavailable]) || s.Running != 0 || s.Waiting != 0 {
		t.Fatalf("limiter %+v after outcomes %v", s, codes)
	}
}

// TestBusyAutoGoesToCloud: under policy auto a busy local model sends the
// request straight to the cloud (streamed or not), with the reason saying
// so, counted as a rejection and as an escalation.
func TestBusyAutoGoesToCloud(t *testing.T) {
	adm := newAdmission(t, 1, 0)
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, admission: adm})
	holdSlot(t, adm)

	resp, c := ask(t, d, "auto", easyQuestion)
	if resp.StatusCode != http.StatusOK || c.Cascade == nil {
		t.Fatalf("status %d: %+v", resp.StatusCode, c)
	}
	if c.Cascade.Route != "cloud" || !c.Cascade.Escalated || !strings.Contains(c.Cascade.Reason, "local model busy") {
		t.Fatalf("cascade %+v, want an escalation to the cloud because the local model is busy", *c.Cascade)
	}
	if c.Cascade.Confidence != nil {
		t.Fatalf("confidence %v, want null: the local model was not asked", *c.Cascade.Confidence)
	}
	sr := streamChat(t, d, "auto", easyQuestion)
	if sr.status != http.StatusOK || sr.cascade == nil || sr.cascade.Route != "cloud" || !sr.done || sr.content == "" {
		t.Fatalf("stream: %+v", sr)
	}
	if n := d.cloudCalls(); n != 2 {
		t.Fatalf("cloud called %d times, want 2", n)
	}
	m := scrape(t, d)
	if v := metric(t, m, "edgecascade_local_rejected_total"); v != 2 {
		t.Fatalf("rejected counter %v, want 2", v)
	}
	if v := metric(t, m, fmt.Sprintf("edgecascade_escalations_total{cause=%q}", "local_busy")); v != 2 {
		t.Fatalf("escalations %v, want 2", v)
	}
}
