package cloudtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
)

// Run runs the contract against the providers newTarget builds, each
// against its own fake server.
func Run(t *testing.T, newTarget NewFunc) {
	t.Helper()
	start := func(t *testing.T, cfg Config) Target {
		t.Helper()
		if cfg.Timeout == 0 {
			cfg.Timeout = defaultTimeout
		}
		tg := newTarget(t, cfg)
		if tg.Provider == nil || len(tg.Keys) == 0 || tg.Answerer == "" || (tg.Fake == nil) != cfg.Refused {
			t.Fatalf("cloudtest: the target needs a provider, its keys, the answerer's name and a fake unless refused: %+v", tg)
		}
		if tg.Fake != nil {
			tg.Fake.Set(Behavior{Pieces: pieces})
		}
		return tg
	}
	want := func(tg Target, finish string) cloud.Response {
		return cloud.Response{Provider: tg.Answerer, Model: tg.Model, Content: strings.Join(pieces, ""),
			FinishReason: finish, Usage: cloud.Usage{PromptTokens: PromptTokens, CompletionTokens: CompletionTokens}}
	}

	t.Run("Complete", func(t *testing.T) {
		t.Parallel()
		tg := start(t, Config{})
		if tg.Provider.Name() == "" || tg.Provider.Model() == "" {
			t.Errorf("Name %q, Model %q: want both", tg.Provider.Name(), tg.Provider.Model())
		}
		resp, err := tg.Provider.Complete(context.Background(), Question())
		if err != nil {
			t.Fatal(err)
		}
		checkResponse(t, resp, want(tg, "stop"))
		if n := tg.Fake.Attempts(); n != 1 {
			t.Errorf("%d attempts for one answer, want 1", n)
		}
		r := lastRequest(t, tg.Fake)
		if !strings.Contains(fmt.Sprint(r.Header), tg.Keys[0]) {
			t.Errorf("the server did not receive the API key: %v", r.Header)
		}
		if r.LastMessage() != "Capital of France?" || !strings.Contains(string(r.Body), "Be brief.") {
			t.Errorf("the request body lacks the conversation: %s", r.Body)
		}
	})

	t.Run("Stream", func(t *testing.T) {
		t.Parallel()
		tg := start(t, Config{})
		var deltas []string
		resp, err := tg.Provider.Stream(context.Background(), Question(), func(d string) error {
			deltas = append(deltas, d)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		checkResponse(t, resp, want(tg, "stop"))
		if strings.Join(deltas, "|") != strings.Join(pieces, "|") {
			t.Errorf("deltas %q, want %q: one per piece the server sent", deltas, pieces)
		}
		if r := lastRequest(t, tg.Fake); !r.Stream() {
			t.Errorf("the request did not ask to stream: %s", r.Body)
		}
	})

	t.Run("Length", func(t *testing.T) {
		t.Parallel()
		tg := start(t, Config{})
		tg.Fake.Set(Behavior{Pieces: pieces, Length: true})
		resp, err := tg.Provider.Complete(context.Background(), Question())
		if err != nil {
			t.Fatal(err)
		}
		checkResponse(t, resp, want(tg, "length"))
		resp, err = tg.Provider.Stream(context.Background(), Question(), func(string) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		checkResponse(t, resp, want(tg, "length"))
	})

	// Tools go out with the request; tool calls come back whole from a
	// complete answer and joined from a stream's pieces, after the text.
	t.Run("ToolCalls", func(t *testing.T) {
		t.Parallel()
		tg := start(t, Config{})
		calls := []models.ToolCall{
			{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)},
			{ID: "call_2", Name: "get_time", Arguments: json.RawMessage(`{"tz":"Europe/Paris"}`)},
		}
		tg.Fake.Set(Behavior{Pieces: pieces, ToolCalls: calls})
		q := Question()
		q.Tools = []models.Tool{
			{Name: "get_weather", Description: "weather now", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)},
			{Name: "get_time", Parameters: json.RawMessage(`{"type":"object","properties":{"tz":{"type":"string"}}}`)},
		}
		w := want(tg, "tool_calls")
		w.ToolCalls = calls
		resp, err := tg.Provider.Complete(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		checkResponse(t, resp, w)
		if b := string(lastRequest(t, tg.Fake).Body); !strings.Contains(b, `"get_weather"`) || !strings.Contains(b, `"weather now"`) || !strings.Contains(b, `"city"`) {
			t.Errorf("the request lacks the tools: %s", b)
		}
		var deltas []string
		resp, err = tg.Provider.Stream(context.Background(), q, func(d string) error {
			deltas = append(deltas, d)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		checkResponse(t, resp, w)
		if strings.Join(deltas, "") != strings.Join(pieces, "") {
			t.Errorf("deltas %q: want the text only", deltas)
		}
	})

	t.Run("DeltaFuncErrorStops", func(t *testing.T) {
		t.Parallel()
		tg := start(t, Config{})
		stop := errors.New("client went away")
		calls := 0
		resp, err := tg.Provider.Stream(context.Background(), Question(), func(string) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) || resp != nil {
			t.Fatalf("Stream = %+v, %v; want the delta func's error", resp, err)
		}
		var ce *cloud.Error
		if errors.As(err, &ce) {
			t.Errorf("a delta func error is not a provider failure: %v", err)
		}
		if calls != 1 {
			t.Errorf("delta func called %d times after failing, want once", calls)
		}
	})

	t.Run("Errors", func(t *testing.T) { runErrors(t, start) })
	t.Run("MidStream", func(t *testing.T) { runMidStream(t, start) })
	t.Run("Timeout", func(t *testing.T) { runTimeout(t, start) })
	t.Run("Cancel", func(t *testing.T) { runCancel(t, start) })
	t.Run("KeyNeverInErrors", func(t *testing.T) { runKeys(t, start) })

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		tg := start(t, Config{})
		if err := tg.Provider.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		tg := start(t, Config{})
		var wg sync.WaitGroup
		errs := make([]error, 4)
		got := make([]string, 4)
		for i := range errs {
			wg.Go(func() {
				var r *cloud.Response
				if i%2 == 0 {
					r, errs[i] = tg.Provider.Complete(context.Background(), Question())
				} else {
					r, errs[i] = tg.Provider.Stream(context.Background(), Question(), func(string) error { return nil })
				}
				if r != nil {
					got[i] = r.Content
				}
			})
		}
		wg.Wait()
		for i := range errs {
			if errs[i] != nil || got[i] != strings.Join(pieces, "") {
				t.Errorf("concurrent call %d: %q, %v", i, got[i], errs[i])
			}
		}
	})
}

type startFunc func(t *testing.T, cfg Config) Target

// call is one of the provider's three calls, with the deltas a stream
// delivered.
type call struct {
	name string
	do   func(ctx context.Context, p cloud.Provider, deltas *[]string) (*cloud.Response, error)
}

var calls = []call{
	{"Complete", func(ctx context.Context, p cloud.Provider, _ *[]string) (*cloud.Response, error) {
		return p.Complete(ctx, Question())
	}},
	{"Stream", func(ctx context.Context, p cloud.Provider, deltas *[]string) (*cloud.Response, error) {
		return p.Stream(ctx, Question(), func(d string) error {
			*deltas = append(*deltas, d)
			return nil
		})
	}},
	{"Ping", func(ctx context.Context, p cloud.Provider, _ *[]string) (*cloud.Response, error) {
		return nil, p.Ping(ctx)
	}},
}

// runErrors: an answer that never came, a 5xx or a 429 is
// cloud.ErrUnavailable; another 4xx is a refusal of the request, not
// retried; a 429's Retry-After is kept; a stream fails before any delta.
func runErrors(t *testing.T, start startFunc) {
	tests := []struct {
		name     string
		b        Behavior
		refused  bool
		status   int
		attempts int // of Complete and Stream, with one retry allowed
		wait     time.Duration
	}{
		{name: "refused", refused: true},
		{name: "500 retried", b: Behavior{Status: 500}, status: 500, attempts: 2},
		{name: "503 retried", b: Behavior{Status: 503}, status: 503, attempts: 2},
		{name: "529 retried", b: Behavior{Status: 529}, status: 529, attempts: 2},
		{name: "429 waiting longer than the retry cap", b: Behavior{Status: 429, RetryAfter: "30"}, status: 429, attempts: 1, wait: 30 * time.Second},
		{name: "400 not retried", b: Behavior{Status: 400}, status: 400, attempts: 1},
		{name: "401 not retried", b: Behavior{Status: 401}, status: 401, attempts: 1},
		{name: "403 not retried", b: Behavior{Status: 403}, status: 403, attempts: 1},
		{name: "404 not retried", b: Behavior{Status: 404}, status: 404, attempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := start(t, Config{Refused: tt.refused, MaxRetries: 1})
			for _, c := range calls {
				if tg.Fake != nil {
					tg.Fake.Set(tt.b)
				}
				var deltas []string
				began, before := time.Now(), 0
				if tg.Fake != nil {
					before = len(tg.Fake.Requests())
				}
				resp, err := c.do(context.Background(), tg.Provider, &deltas)
				if d := time.Since(began); d > 4*time.Second {
					t.Errorf("%s took %s", c.name, d)
				}
				if resp != nil || len(deltas) > 0 {
					t.Errorf("%s: answer %+v, deltas %q with the error", c.name, resp, deltas)
				}
				ce := CheckError(t, err, tg.Answerer, tt.status)
				for _, k := range tg.Keys {
					NoSecret(t, err, k)
				}
				if c.name == "Ping" {
					if tg.Fake != nil && len(tg.Fake.Requests())-before != 1 {
						t.Errorf("Ping: %d requests, want 1: a ping is not retried", len(tg.Fake.Requests())-before)
					}
					continue
				}
				if tt.wait != 0 && ce.RetryAfter != tt.wait {
					t.Errorf("%s: RetryAfter %s, want the server's %s", c.name, ce.RetryAfter, tt.wait)
				}
				if tg.Fake != nil && tg.Fake.Attempts() != tt.attempts {
					t.Errorf("%s: %d attempts, want %d", c.name, tg.Fake.Attempts(), tt.attempts)
				}
			}
		})
	}
}

// runMidStream: a stream cut, malformed, failed by an error event or stalled
// after the first piece is an error after that piece, never a silent
// partial answer; so is a complete answer cut, malformed or stalled.
func runMidStream(t *testing.T, start startFunc) {
	tests := []struct {
		name     string
		b        Behavior
		complete bool // Complete fails too
	}{
		{"cut", Behavior{Pieces: pieces, Cut: true}, true},
		{"malformed", Behavior{Pieces: pieces, Malformed: true}, true},
		{"error event", Behavior{Pieces: pieces, ErrorEvent: true}, false},
		{"stall", Behavior{Pieces: pieces, Stall: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := start(t, Config{Timeout: 500 * time.Millisecond})
			tg.Fake.Set(tt.b)
			var deltas []string
			resp, err := calls[1].do(context.Background(), tg.Provider, &deltas)
			if resp != nil {
				t.Errorf("partial answer returned: %+v", resp)
			}
			if strings.Join(deltas, "|") != pieces[0] {
				t.Errorf("deltas %q, want the first piece %q", deltas, pieces[0])
			}
			CheckError(t, err, tg.Answerer, 0)
			if tt.b.Stall && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("stalled stream: %v, want a timeout", err)
			}
			if !tt.complete {
				return
			}
			resp, err = tg.Provider.Complete(context.Background(), Question())
			if resp != nil {
				t.Errorf("Complete: partial answer returned: %+v", resp)
			}
			CheckError(t, err, tg.Answerer, 0)
		})
	}
}

// runTimeout: a server that never answers is an unavailable provider after
// the per-attempt timeout, which is not retried.
func runTimeout(t *testing.T, start startFunc) {
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tg := start(t, Config{Timeout: 300 * time.Millisecond, MaxRetries: 1})
			tg.Fake.Set(Behavior{Hang: true})
			began := time.Now()
			var deltas []string
			resp, err := c.do(context.Background(), tg.Provider, &deltas)
			if d := time.Since(began); d > 3*time.Second {
				t.Errorf("took %s with a 300ms timeout", d)
			}
			if resp != nil || len(deltas) > 0 {
				t.Errorf("answer %+v, deltas %q", resp, deltas)
			}
			CheckError(t, err, tg.Answerer, 0)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%v: want context.DeadlineExceeded", err)
			}
			if c.name != "Ping" && tg.Fake.Attempts() != 1 {
				t.Errorf("%d attempts, want 1: a timed-out attempt is not retried", tg.Fake.Attempts())
			}
		})
	}
}

// runCancel: a canceled context ends every call with context.Canceled,
// before or during a stream, and the provider answers afterwards.
func runCancel(t *testing.T, start startFunc) {
	t.Parallel()
	tg := start(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range calls {
		var deltas []string
		resp, err := c.do(ctx, tg.Provider, &deltas)
		if !errors.Is(err, context.Canceled) || resp != nil || len(deltas) > 0 {
			t.Errorf("%s with a canceled context: %+v, %q, %v; want context.Canceled", c.name, resp, deltas, err)
		}
	}
	// Canceled mid-stream, while the server stalls after the first piece.
	tg.Fake.Set(Behavior{Pieces: pieces, Stall: true})
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	resp, err := tg.Provider.Stream(ctx, Question(), func(string) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || resp != nil {
		t.Errorf("Stream canceled mid-stream: %+v, %v; want context.Canceled", resp, err)
	}
	tg.Fake.Set(Behavior{Pieces: pieces})
	if _, err := tg.Provider.Complete(context.Background(), Question()); err != nil {
		t.Errorf("Complete after a canceled call: %v", err)
	}
}

// runKeys: servers may echo what they were sent, credentials included, in
// an error body, an error event or a bad event; the key reaches no error.
func runKeys(t *testing.T, start startFunc) {
	tests := []struct {
		name string
		b    Behavior
		call call
	}{
		{"error body", Behavior{Echo: true}, calls[0]},
		{"error body before a stream", Behavior{Echo: true}, calls[1]},
		{"error event", Behavior{Pieces: pieces, Echo: true, ErrorEvent: true}, calls[1]},
		{"malformed event", Behavior{Pieces: pieces, Echo: true, Malformed: true}, calls[1]},
		{"ping", Behavior{Echo: true}, calls[2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := start(t, Config{})
			tg.Fake.Set(tt.b)
			var deltas []string
			_, err := tt.call.do(context.Background(), tg.Provider, &deltas)
			if err == nil {
				t.Fatal("want an error")
			}
			if h := lastRequest(t, tg.Fake).Header; !strings.Contains(fmt.Sprint(h), tg.Keys[0]) {
				t.Fatalf("the server did not receive the key: %v", h)
			}
			for _, k := range tg.Keys {
				NoSecret(t, err, k)
			}
		})
	}
}

func lastRequest(t *testing.T, f Fake) *Request {
	t.Helper()
	r := f.Last()
	if r == nil {
		t.Fatal("the server received no request")
	}
	return r
}

// checkResponse compares an answer with want, the cost aside (a chain
// prices it).
func checkResponse(t *testing.T, got *cloud.Response, want cloud.Response) {
	t.Helper()
	if got == nil {
		t.Fatal("nil answer")
	}
	g := *got
	g.Cost = 0
	if !reflect.DeepEqual(g, want) {
		t.Errorf("answer %+v, want %+v", g, want)
	}
}
