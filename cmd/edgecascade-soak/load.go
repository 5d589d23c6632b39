package main

// The load: workers that send a steady mix of requests to the daemon on both
// APIs and record what each one got.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// APIs the load uses.
const (
	apiV1       = "v1"           // POST /v1/chat/completions
	apiChat     = "api/chat"     // POST /api/chat
	apiGenerate = "api/generate" // POST /api/generate
)

// record is one request and what came back.
type record struct {
	N        int
	API      string
	Policy   string // auto, local, cloud (or the bad model name)
	Stream   bool
	Bad      string // the kind of bad input, "" for a good request
	Start    time.Time
	Elapsed  time.Duration
	Deadline time.Duration

	Status     int
	Route      string // X-Cascade-Route
	DeferredID string // X-Cascade-Deferred-Id
	Content    string // the answer's text as the client assembled it
	Complete   bool   // the whole answer arrived ([DONE], done:true, or a whole JSON body)

	ErrShape  bool   // an error status carried the API's error shape
	ErrCode   string // OpenAI error code, or the Ollama error message
	StreamErr string // an error event inside a 200 stream
	Transport string // a transport error (connection refused, reset, EOF)
	TimedOut  bool   // the client's deadline passed
	Excused   bool   // a daemon kill fell inside the request (set by the runner)

	RetryAfter time.Duration // the Retry-After header of an error
}

// question is one item of val.jsonl.
type question struct {
	Prompt string `json:"prompt"`
	Answer string `json:"answer"`
}

func loadQuestions(path string) ([]question, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("questions: %w", err)
	}
	var qs []question
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var q question
		if err := json.Unmarshal([]byte(line), &q); err != nil {
			return nil, fmt.Errorf("questions: %s:%d: %w", path, i+1, err)
		}
		qs = append(qs, q)
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("questions: %s is empty", path)
	}
	return qs, nil
}

// spec is a request to send.
type spec struct {
	API, Policy, Bad string
	Stream           bool
	Body             []byte
}

// badKinds are the bad inputs, each sent on both APIs.
var badKinds = []string{"malformed-json", "wrong-type", "unknown-model", "oversized"}

// newSpec draws one request: 5% bad input, the rest a mix of policies,
// APIs and streaming. maxBody is the daemon's server.max_body_bytes.
func newSpec(rnd *rand.Rand, qs []question, maxBody int) spec {
	s := spec{Policy: []string{"auto", "auto", "auto", "auto", "local", "cloud"}[rnd.IntN(6)], Stream: rnd.IntN(2) == 0}
	switch x := rnd.IntN(10); {
	case x < 5:
		s.API = apiV1
	case x < 8:
		s.API = apiChat
	default:
		s.API = apiGenerate
	}
	q := qs[rnd.IntN(len(qs))].Prompt
	if rnd.Float64() < 0.05 {
		s.Bad = badKinds[rnd.IntN(len(badKinds))]
		s.Body = badBody(s.API, s.Bad, q, maxBody)
		if s.Bad == "unknown-model" {
			s.Policy = "gpt-9-soak"
		}
		return s
	}
	s.Body = goodBody(s.API, s.Policy, q, s.Stream)
	return s
}

func goodBody(api, policy, prompt string, stream bool) []byte {
	var v any
	switch api {
	case apiV1:
		v = map[string]any{"model": policy, "stream": stream, "max_tokens": 24, "temperature": 0,
			"messages": []any{map[string]any{"role": "user", "content": prompt}}}
	case apiChat:
		v = map[string]any{"model": policy, "stream": stream, "options": map[string]any{"num_predict": 24},
			"messages": []any{map[string]any{"role": "user", "content": prompt}}}
	default:
		v = map[string]any{"model": policy, "stream": stream, "prompt": prompt, "options": map[string]any{"num_predict": 24}}
	}
	b, _ := json.Marshal(v)
	return b
}

func badBody(api, kind, prompt string, maxBody int) []byte {
	switch kind {
	case "malformed-json":
		return []byte(`{"model": "auto", "messages": [{"role": "user", "content": "` + prompt + `"`)
	case "wrong-type":
		if api == apiGenerate {
			return []byte(`{"model": "auto", "prompt": 42}`)
		}
		return []byte(`{"model": "auto", "messages": "` + prompt + `"}`)
	case "unknown-model":
		return goodBody(api, "gpt-9-soak", prompt, false)
	default: // oversized
		big := strings.Repeat("x", maxBody+1024)
		return goodBody(api, "auto", big, false)
	}
}

func path(api string) string {
	switch api {
	case apiV1:
		return "/v1/chat/completions"
	case apiChat:
		return "/api/chat"
	}
	return "/api/generate"
}

// send sends s to base within deadline and records the outcome.
func send(ctx context.Context, client *http.Client, base string, s spec, deadline time.Duration) (rec record) {
	rec = record{API: s.API, Policy: s.Policy, Stream: s.Stream, Bad: s.Bad, Start: time.Now(), Deadline: deadline}
	defer func() { rec.Elapsed = time.Since(rec.Start) }()
	rctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, base+path(s.API), bytes.NewReader(s.Body))
	if err != nil {
		rec.Transport = err.Error()
		return rec
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		rec.Transport, rec.TimedOut = err.Error(), errors.Is(rctx.Err(), context.DeadlineExceeded)
		return rec
	}
	defer resp.Body.Close()
	rec.Status = resp.StatusCode
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		rec.RetryAfter = time.Duration(secs) * time.Second
	}
	rec.Route = resp.Header.Get("X-Cascade-Route")
	rec.DeferredID = resp.Header.Get("X-Cascade-Deferred-Id")
	if resp.StatusCode != http.StatusOK {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			rec.Transport = err.Error()
		}
		rec.ErrShape, rec.ErrCode = errorShape(s.API, b)
		rec.TimedOut = errors.Is(rctx.Err(), context.DeadlineExceeded)
		return rec
	}
	switch {
	case s.API == apiV1 && s.Stream:
		err = readSSE(resp.Body, &rec)
	case s.API == apiV1:
		err = readV1(resp.Body, &rec)
	default:
		err = readNDJSON(resp.Body, &rec)
	}
	if err != nil {
		rec.Transport = err.Error()
	}
	rec.TimedOut = errors.Is(rctx.Err(), context.DeadlineExceeded)
	return rec
}

// errorShape checks an error body against the API's error shape:
// {"error": {"message", "type", "code"}} on /v1, {"error": "..."} on /api.
// It returns whether the shape holds and the code (or message).
func errorShape(api string, b []byte) (bool, string) {
	if api == apiV1 {
		var e struct {
			Error *struct {
				Message string  `json:"message"`
				Type    string  `json:"type"`
				Code    *string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" || e.Error.Code == nil {
			return false, truncate(string(b), 120)
		}
		return true, *e.Error.Code
	}
	var e struct {
		Error *string `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error == nil || *e.Error == "" {
		return false, truncate(string(b), 120)
	}
	return true, *e.Error
}

func readV1(r io.Reader, rec *record) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var c struct {
		Choices []struct {
			Message struct {
				Content *string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("decode the answer: %w: %s", err, truncate(string(b), 120))
	}
	if len(c.Choices) > 0 && c.Choices[0].Message.Content != nil {
		rec.Content = *c.Choices[0].Message.Content
	}
	rec.Complete = true
	return nil
}

// readSSE reads an OpenAI chat.completion.chunk stream.
func readSSE(r io.Reader, rec *record) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var text strings.Builder
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if line == "[DONE]" {
			rec.Complete = true
			break
		}
		var c struct {
			Choices []struct {
				Delta struct {
					Content *string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Error *struct {
				Code *string `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			return fmt.Errorf("decode a chunk: %w: %s", err, truncate(line, 120))
		}
		if c.Error != nil {
			rec.StreamErr = "error event"
			if c.Error.Code != nil {
				rec.StreamErr = *c.Error.Code
			}
			continue
		}
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != nil {
			text.WriteString(*c.Choices[0].Delta.Content)
		}
	}
	rec.Content = text.String()
	return sc.Err()
}

// readNDJSON reads Ollama's answers: one JSON object, or one a line.
func readNDJSON(r io.Reader, rec *record) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var text strings.Builder
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var f struct {
			Message *struct {
				Content string `json:"content"`
			} `json:"message"`
			Response string  `json:"response"`
			Done     bool    `json:"done"`
			Error    *string `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			return fmt.Errorf("decode a frame: %w: %s", err, truncate(line, 120))
		}
		if f.Error != nil {
			rec.StreamErr = *f.Error
			continue
		}
		if f.Message != nil {
			text.WriteString(f.Message.Content)
		}
		text.WriteString(f.Response)
		if f.Done {
			rec.Complete = true
		}
	}
	rec.Content = text.String()
	return sc.Err()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Load runs workers against the daemon until ctx ends.
type Load struct {
	Questions []question
	Workers   int
	Deadline  time.Duration
	MaxBody   int
	Seed      uint64
	// Base returns the daemon's base URL and its generation (which changes
	// at each restart); ok is false while the daemon is down.
	Base func() (url string, gen int, ok bool)
	// Gen is the daemon's current generation.
	Gen func() int

	mu      sync.Mutex
	records []record
}

// Run blocks until ctx ends and every worker has finished its request.
func (l *Load) Run(ctx context.Context, client *http.Client) {
	var wg sync.WaitGroup
	for w := 0; w < l.Workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(l.Seed, uint64(w)))
			for ctx.Err() == nil {
				base, gen, ok := l.Base()
				if !ok {
					sleep(ctx, 100*time.Millisecond)
					continue
				}
				rec := send(context.WithoutCancel(ctx), client, base, newSpec(rnd, l.Questions, l.MaxBody), l.Deadline)
				rec.Excused = rec.Transport != "" && !rec.TimedOut && l.Gen() != gen
				l.add(rec)
				sleep(ctx, pause(rnd, rec))
			}
		}(w)
	}
	wg.Wait()
}

// pause is a client's wait before its next request: a moment after an
// answer; after a refusal, the Retry-After (at most 1 s) or a quarter second,
// as a well-behaved client would (else a fast 503 turns into a flood).
func pause(rnd *rand.Rand, r record) time.Duration {
	switch {
	case r.Status == 200 || (r.Status >= 400 && r.Status < 429):
		return time.Duration(rnd.IntN(50)) * time.Millisecond
	case r.RetryAfter > 0:
		return min(r.RetryAfter, time.Second)
	}
	return 250 * time.Millisecond
}

func (l *Load) add(r record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.N = len(l.records) + 1
	l.records = append(l.records, r)
}

// Records returns a copy of what was recorded so far.
func (l *Load) Records() []record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]record(nil), l.records...)
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
