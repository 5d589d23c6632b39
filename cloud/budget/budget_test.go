package budget_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/cloud/budget"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func open(t *testing.T, path string, l budget.Limits, c *clock) *budget.Budget {
	t.Helper()
	b, err := budget.Open(path, l, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCaps(t *testing.T) {
	ctx := context.Background()
	day := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		limits  budget.Limits
		records []budget.Counts
		want    string // "" allowed, else a fragment of the reason
	}{
		{"no caps", budget.Limits{}, []budget.Counts{{Calls: 1000, Tokens: 1e6, Cost: 100}}, ""},
		{"under the daily call cap", budget.Limits{CallsPerDay: 3}, []budget.Counts{{Calls: 1}, {Calls: 1}}, ""},
		{"daily call cap", budget.Limits{CallsPerDay: 2}, []budget.Counts{{Calls: 1}, {Calls: 1}}, "daily cloud call cap reached (2 of 2 on 2026-11-28 UTC)"},
		{"daily token cap", budget.Limits{TokensPerDay: 100}, []budget.Counts{{Calls: 1, Tokens: 60}, {Calls: 1, Tokens: 40}}, "daily cloud token cap"},
		{"monthly token cap", budget.Limits{TokensPerMonth: 50, TokensPerDay: 1000}, []budget.Counts{{Calls: 1, Tokens: 50}}, "monthly cloud token cap"},
		{"monthly cost cap", budget.Limits{CostPerMonth: 0.5}, []budget.Counts{{Calls: 1, Cost: 0.25}, {Calls: 1, Cost: 0.25}}, "monthly cloud cost cap"},
		{"daily cost under cap", budget.Limits{CostPerDay: 0.5}, []budget.Counts{{Calls: 1, Cost: 0.49}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := open(t, filepath.Join(t.TempDir(), "b.db"), tc.limits, &clock{t: day})
			defer b.Close()
			for _, r := range tc.records {
				if err := b.Record(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			ok, why := b.Allow()
			if tc.want == "" {
				if !ok {
					t.Fatalf("refused: %s", why)
				}
				return
			}
			if ok || !strings.Contains(why, tc.want) {
				t.Fatalf("Allow = %v, %q; want refused with %q", ok, why, tc.want)
			}
			if u := b.Usage(); u.Exhausted != why {
				t.Fatalf("Usage().Exhausted = %q, want %q", u.Exhausted, why)
			}
		})
	}
}

func TestPersistedAndRolledOver(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "b.db")
	c := &clock{t: time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)}
	l := budget.Limits{CallsPerDay: 2, CallsPerMonth: 3}
	b := open(t, path, l, c)
	for range 2 {
		if err := b.Record(ctx, budget.Counts{Calls: 1, Tokens: 10, Cost: 0.01}); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()

	// A restart keeps the counts.
	b = open(t, path, l, c)
	if ok, _ := b.Allow(); ok {
		t.Fatal("the daily cap was forgotten across a restart")
	}
	u := b.Usage()
	if u.Today.Calls != 2 || u.Today.Tokens != 20 || u.ThisMonth.Calls != 2 {
		t.Fatalf("usage after restart %+v", u)
	}
	// A new day (and month) starts from zero.
	c.set(time.Date(2026, 12, 1, 0, 30, 0, 0, time.UTC))
	if ok, why := b.Allow(); !ok {
		t.Fatalf("new day still refused: %s", why)
	}
	if u := b.Usage(); u.Day != "2026-12-01" || u.Today.Calls != 0 || u.Month != "2026-12" || u.ThisMonth.Calls != 0 {
		t.Fatalf("new period usage %+v", u)
	}
	b.Close()

	// A later day of the same month keeps the month's count.
	c.set(time.Date(2026, 11, 30, 23, 30, 0, 0, time.UTC))
	b = open(t, path, budget.Limits{CallsPerMonth: 3}, c)
	defer b.Close()
	if err := b.Record(ctx, budget.Counts{Calls: 1}); err != nil {
		t.Fatal(err)
	}
	if ok, why := b.Allow(); ok || !strings.Contains(why, "monthly cloud call cap reached (3 of 3 in 2026-11 UTC)") {
		t.Fatalf("monthly cap: %v %q", ok, why)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := budget.Open(filepath.Join(t.TempDir(), "b.db"), budget.Limits{CallsPerDay: -1}, nil); err == nil {
		t.Fatal("a negative cap was accepted")
	}
	if _, err := budget.Open(filepath.Join(t.TempDir(), "missing", "b.db"), budget.Limits{}, nil); err == nil || !strings.Contains(err.Error(), "open budget database") {
		t.Fatalf("missing folder: %v", err)
	}
}

// provider answers every call with fixed usage.
type provider struct {
	mu    sync.Mutex
	calls int
	gate  chan struct{} // when set, each call waits on it
}

func (p *provider) Name() string               { return "p" }
func (p *provider) Model() string              { return "m" }
func (p *provider) Ping(context.Context) error { return nil }
func (p *provider) Complete(_ context.Context, _ cloud.Request) (*cloud.Response, error) {
	if p.gate != nil {
		<-p.gate
	}
	p.mu.Lock()
	p.calls++
	p.mu.Unlock()
	return &cloud.Response{Content: "ok", Usage: cloud.Usage{PromptTokens: 7, CompletionTokens: 3}, Cost: 0.002}, nil
}
func (p *provider) Stream(ctx context.Context, req cloud.Request, fn cloud.DeltaFunc) (*cloud.Response, error) {
	r, err := p.Complete(ctx, req)
	if err == nil {
		err = fn(r.Content)
	}
	return r, err
}

func TestGuardCountsAndRefuses(t *testing.T) {
	ctx := context.Background()
	b := open(t, filepath.Join(t.TempDir(), "b.db"), budget.Limits{CallsPerDay: 3}, &clock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)})
	defer b.Close()
	p := &provider{gate: make(chan struct{})}
	g := budget.NewGuard(p, b, nil)

	// Ten concurrent calls against a cap of 3: calls in flight count, so
	// exactly three reach the provider.
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := g.Complete(ctx, cloud.Request{})
			errs <- err
		}()
	}
	refused := 0
	for range 7 {
		err := <-errs
		var nc *cloud.NotCalledError
		if !errors.As(err, &nc) || !errors.Is(err, cloud.ErrBudget) || errors.Is(err, cloud.ErrUnavailable) || nc.RetryAfter <= 0 {
			t.Fatalf("refusal %v, want a NotCalledError with ErrBudget and a retry time", err)
		}
		refused++
	}
	close(p.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("admitted call failed: %v", err)
		}
	}
	if p.calls != 3 || refused != 7 {
		t.Fatalf("%d calls reached the provider, %d refused; want 3 and 7", p.calls, refused)
	}
	u := b.Usage()
	if u.Today.Calls != 3 || u.Today.Tokens != 30 || u.Today.Cost < 0.0059 || u.Today.Cost > 0.0061 {
		t.Fatalf("usage %+v, want 3 calls, 30 tokens, cost 0.006", u.Today)
	}
}
