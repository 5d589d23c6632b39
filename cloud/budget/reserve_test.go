package budget_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/cloud/budget"
	"github.com/edgecascade/edgecascade/cloud/mock"
	"github.com/edgecascade/edgecascade/models"
)

var noon = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func openAt(t *testing.T, l budget.Limits) *budget.Budget {
	t.Helper()
	b := open(t, filepath.Join(t.TempDir(), "b.db"), l, &clock{t: noon})
	t.Cleanup(func() { b.Close() })
	return b
}

func ask(content string, maxTokens int) cloud.Request {
	return cloud.Request{Messages: []models.Message{{Role: "user", Content: content}}, MaxTokens: maxTokens}
}

// Issue 14 item 2: release decremented the in-flight count and recorded
// the call in two critical sections; an admission between them saw
// neither, and 400 concurrent calls under a cap of 20 reached the provider
// more than 20 times.
func TestCallCapHoldsUnderConcurrency(t *testing.T) {
	for round := range 5 {
		b := openAt(t, budget.Limits{CallsPerDay: 20})
		p := &mock.Provider{Answer: cloud.Response{Content: "ok", Usage: cloud.Usage{PromptTokens: 5, CompletionTokens: 1}}}
		g := budget.NewGuard(p, b, nil)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 400 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, _ = g.Complete(context.Background(), ask("hi", 10))
			}()
		}
		close(start)
		wg.Wait()
		if n := p.Calls(); n != 20 {
			t.Fatalf("round %d: %d calls reached the provider under a cap of 20", round, n)
		}
		if u := b.Usage(); u.Today.Calls != 20 {
			t.Fatalf("round %d: %d calls counted, want 20", round, u.Today.Calls)
		}
	}
}

// A call whose worst case (prompt + max_tokens) is over a cap by itself is
// refused before the call, naming the cap; it is ErrOverCap, not ErrBudget:
// deferring it would not help.
func TestWorstCaseOverCapRefusedBeforeTheCall(t *testing.T) {
	tests := []struct {
		name   string
		limits budget.Limits
		price  cloud.Price
		want   string
	}{
		{"daily tokens", budget.Limits{TokensPerDay: 100000}, cloud.Price{}, "daily cloud token cap"},
		{"monthly tokens", budget.Limits{TokensPerMonth: 100000}, cloud.Price{}, "monthly cloud token cap"},
		{"daily cost", budget.Limits{CostPerDay: 1}, cloud.Price{InputPer1K: 0.01, OutputPer1K: 0.03}, "daily cloud cost cap"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := openAt(t, tc.limits)
			p := &mock.Provider{}
			g := budget.NewGuardWith(p, b, budget.GuardOptions{Price: tc.price})
			_, err := g.Complete(context.Background(), ask("What is the capital of France?", 131072))
			var nc *cloud.NotCalledError
			if !errors.As(err, &nc) || !errors.Is(err, cloud.ErrOverCap) || errors.Is(err, cloud.ErrBudget) || errors.Is(err, cloud.ErrUnavailable) {
				t.Fatalf("err %v, want a NotCalledError with ErrOverCap", err)
			}
			if !strings.Contains(nc.Reason, tc.want) || !strings.Contains(nc.Reason, "131072") {
				t.Fatalf("reason %q does not name the cap (%s) and max_tokens", nc.Reason, tc.want)
			}
			if p.Calls() != 0 {
				t.Fatal("the provider was called")
			}
		})
	}
}

// Token and cost caps reserve each admitted call's worst case: under a cap
// of 1000 tokens, calls that may use 200 each are admitted five at a time,
// however many run at once, and the use recorded never passes the cap.
func TestTokenCapReservesWorstCase(t *testing.T) {
	b := openAt(t, budget.Limits{TokensPerDay: 1000, CostPerDay: 1})
	gate := make(chan struct{})
	p := &mock.Provider{CompleteFunc: func(_ context.Context, req cloud.Request) (*cloud.Response, error) {
		<-gate
		// The worst case happens: the answer uses all its max tokens.
		return &cloud.Response{Content: strings.Repeat("x", 4*req.MaxTokens), Usage: cloud.Usage{PromptTokens: 10, CompletionTokens: req.MaxTokens}}, nil
	}}
	g := budget.NewGuardWith(p, b, budget.GuardOptions{Price: cloud.Price{InputPer1K: 1, OutputPer1K: 1}})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := g.Complete(context.Background(), ask("hello there", 180))
			errs <- err
		}()
	}
	// The refusals come at once, while the admitted calls wait.
	timeout := time.After(5 * time.Second)
	for i := range 45 {
		select {
		case err := <-errs:
			if !errors.Is(err, cloud.ErrBudget) {
				t.Fatalf("err %v, want ErrBudget", err)
			}
		case <-timeout:
			close(gate)
			wg.Wait()
			t.Fatalf("only %d calls refused while admitted calls were in flight; %d reached the provider, usage %+v", i, p.Calls(), b.Usage().Today)
		}
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("admitted call failed: %v", err)
		}
	}
	u := b.Usage()
	if p.Calls() != 5 || u.Today.Calls != 5 || u.Today.Tokens != 950 || u.Today.Tokens > 1000 {
		t.Fatalf("%d calls, usage %+v; want 5 calls and 950 tokens", p.Calls(), u.Today)
	}
	if u.Today.Cost < 0.949 || u.Today.Cost > 0.951 {
		t.Fatalf("cost %v, want 0.95 (the tokens at the guard's price)", u.Today.Cost)
	}
}

// A request without max tokens under a token cap is sent with the guard's
// default answer allowance, so that its worst case is known.
func TestNoMaxTokensGetsTheDefaultUnderATokenCap(t *testing.T) {
	var got []int
	var mu sync.Mutex
	p := &mock.Provider{CompleteFunc: func(_ context.Context, req cloud.Request) (*cloud.Response, error) {
		mu.Lock()
		got = append(got, req.MaxTokens)
		mu.Unlock()
		return &cloud.Response{Content: "ok", Usage: cloud.Usage{PromptTokens: 3, CompletionTokens: 1}}, nil
	}}
	capped := budget.NewGuardWith(p, openAt(t, budget.Limits{TokensPerDay: 10000}), budget.GuardOptions{DefaultMaxTokens: 500})
	uncapped := budget.NewGuardWith(p, openAt(t, budget.Limits{CallsPerDay: 10}), budget.GuardOptions{DefaultMaxTokens: 500})
	// A cap smaller than the default: the prompt ("hi": about 5 tokens) and
	// the answer must fit it.
	small := budget.NewGuardWith(p, openAt(t, budget.Limits{TokensPerDay: 300}), budget.GuardOptions{DefaultMaxTokens: 500})
	// A cost cap of 0.1 at 1 per 1K output tokens holds 100 (minus the prompt's cost).
	cost := budget.NewGuardWith(p, openAt(t, budget.Limits{CostPerDay: 0.1}), budget.GuardOptions{DefaultMaxTokens: 500, Price: cloud.Price{InputPer1K: 1, OutputPer1K: 1}})
	for _, g := range []*budget.Guard{capped, uncapped, small, cost} {
		if _, err := g.Complete(context.Background(), ask("hi", 0)); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(got) != "[500 0 295 95]" {
		t.Fatalf("max tokens sent %v, want [500 0 295 95] (the default under a token cap, untouched without one, less when a cap is smaller)", got)
	}
}

// What a failed call costs. A call counts when it may have been billed: it
// got an HTTP answer or streamed text. Tokens the provider did not report
// are estimated, never 0.
func TestFailedAndUnreportedCallsCount(t *testing.T) {
	prompt := strings.Repeat("word ", 60) // 300 bytes: about 100 tokens
	dial := &cloud.Error{Provider: "p", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	tests := []struct {
		name          string
		stream        func(ctx context.Context, req cloud.Request, fn cloud.DeltaFunc) (*cloud.Response, error)
		calls         int
		minTok, maxTk int
	}{
		{"answer without usage", func(_ context.Context, _ cloud.Request, fn cloud.DeltaFunc) (*cloud.Response, error) {
			_ = fn(strings.Repeat("y", 300))
			return &cloud.Response{Content: strings.Repeat("y", 300)}, nil
		}, 1, 150, 250},
		{"stream cut after text", func(_ context.Context, _ cloud.Request, fn cloud.DeltaFunc) (*cloud.Response, error) {
			_ = fn(strings.Repeat("z", 300))
			return nil, &cloud.Error{Provider: "p", Err: errors.New("stream ended before [DONE]")}
		}, 1, 150, 250},
		{"delivery failed after text", func(_ context.Context, _ cloud.Request, fn cloud.DeltaFunc) (*cloud.Response, error) {
			err := fn(strings.Repeat("z", 300))
			return nil, fmt.Errorf("deliver: %w", err)
		}, 1, 150, 250},
		{"timed out before any text", func(context.Context, cloud.Request, cloud.DeltaFunc) (*cloud.Response, error) {
			return nil, &cloud.Error{Provider: "p", Err: fmt.Errorf("timed out: %w", context.DeadlineExceeded)}
		}, 1, 80, 130},
		{"HTTP error answer", func(context.Context, cloud.Request, cloud.DeltaFunc) (*cloud.Response, error) {
			return nil, &cloud.Error{Provider: "p", Status: 500, Err: errors.New("boom")}
		}, 1, 0, 0},
		{"never connected", func(context.Context, cloud.Request, cloud.DeltaFunc) (*cloud.Response, error) {
			return nil, dial
		}, 0, 0, 0},
		{"not called", func(context.Context, cloud.Request, cloud.DeltaFunc) (*cloud.Response, error) {
			return nil, &cloud.NotCalledError{Err: cloud.ErrOffline, Reason: "offline"}
		}, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := openAt(t, budget.Limits{CallsPerDay: 100})
			p := &mock.Provider{StreamFunc: tc.stream}
			g := budget.NewGuard(p, b, nil)
			_, _ = g.Stream(context.Background(), ask(prompt, 100), func(string) error {
				if tc.name == "delivery failed after text" {
					return errors.New("client gone")
				}
				return nil
			})
			u := b.Usage().Today
			if u.Calls != tc.calls || u.Tokens < tc.minTok || u.Tokens > tc.maxTk {
				t.Fatalf("counted %+v, want %d calls and %d-%d tokens", u, tc.calls, tc.minTok, tc.maxTk)
			}
		})
	}
}
