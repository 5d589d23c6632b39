package reach_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/cloud/reach"
)

var (
	refused   = &cloud.Error{Provider: "p", Err: errors.New("connection refused")}
	status500 = &cloud.Error{Provider: "p", Status: 500, Err: errors.New("boom")}
	status400 = &cloud.Error{Provider: "p", Status: 400, Err: errors.New("bad request")}
)

// pinger answers with the error in err (nil: reachable) and counts calls.
type pinger struct {
	err   atomic.Pointer[error]
	calls atomic.Int32
}

func (p *pinger) set(err error) { p.err.Store(&err) }
func (p *pinger) Ping(context.Context) error {
	p.calls.Add(1)
	if e := p.err.Load(); e != nil {
		return *e
	}
	return nil
}

func TestBreaker(t *testing.T) {
	tests := []struct {
		name   string
		events []error // nil: success
		want   reach.State
	}{
		{"no calls", nil, reach.StateOnline},
		{"two failures stay closed", []error{refused, status500}, reach.StateOnline},
		{"three failures open", []error{refused, status500, refused}, reach.StateUnreachable},
		{"a success resets the count", []error{refused, refused, nil, refused, refused}, reach.StateOnline},
		{"a 4xx proves the cloud is reachable", []error{refused, refused, status400, refused, refused}, reach.StateOnline},
		{"cancellation does not count", []error{refused, refused, context.Canceled}, reach.StateOnline},
		{"not-called errors do not count", []error{refused, refused, &cloud.NotCalledError{Err: cloud.ErrBudget, Reason: "cap"}}, reach.StateOnline},
		{"429 counts", []error{&cloud.Error{Status: 429, Err: errors.New("slow down")}, refused, refused}, reach.StateUnreachable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := reach.New(&pinger{}, reach.Options{FailureThreshold: 3})
			for _, e := range tc.events {
				if e == nil {
					tr.Success()
				} else {
					tr.Failure(e)
				}
			}
			if got := tr.Status().State; got != tc.want {
				t.Fatalf("state %s, want %s", got, tc.want)
			}
			ok, why := tr.Allow()
			if ok != (tc.want == reach.StateOnline) {
				t.Fatalf("Allow = %v (%s) in state %s", ok, why, tc.want)
			}
			if !ok && why == "" {
				t.Fatal("a refusal must say why")
			}
		})
	}
}

func TestProbeClosesBreakerWithBackoff(t *testing.T) {
	p := &pinger{}
	p.set(refused)
	changes := make(chan reach.Status, 10)
	tr := reach.New(p, reach.Options{FailureThreshold: 1, ProbeInterval: 10 * time.Millisecond, MaxProbeInterval: 40 * time.Millisecond,
		OnChange: func(s reach.Status) { changes <- s }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go tr.Run(ctx)
	tr.Failure(refused)
	if s := <-changes; s.State != reach.StateUnreachable || s.NextProbe == nil {
		t.Fatalf("after a failure: %+v", s)
	}
	// Failed probes double the wait up to the maximum.
	deadline := time.Now().Add(10 * time.Second)
	for p.calls.Load() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d probes", p.calls.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	st := tr.Status()
	if st.State != reach.StateUnreachable || st.LastError == "" {
		t.Fatalf("still failing: %+v", st)
	}
	p.set(nil)
	select {
	case s := <-changes:
		if s.State != reach.StateOnline || s.Failures != 0 {
			t.Fatalf("after a good probe: %+v", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the breaker did not close after the cloud came back")
	}
}

func TestProbeAnswerWithErrorCountsAsReachable(t *testing.T) {
	p := &pinger{}
	p.set(&cloud.Error{Provider: "p", Status: 401, Err: errors.New("invalid key")})
	tr := reach.New(p, reach.Options{FailureThreshold: 1, ProbeInterval: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go tr.Run(ctx)
	tr.Failure(refused)
	deadline := time.Now().Add(10 * time.Second)
	for tr.Status().State != reach.StateOnline {
		if time.Now().After(deadline) {
			t.Fatal("a 401 on the probe means the network is back; the breaker stayed open")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// provider is a cloud.Provider whose calls fail with err and are counted.
type provider struct {
	pinger
	completes atomic.Int32
}

func (p *provider) Name() string  { return "p" }
func (p *provider) Model() string { return "m" }
func (p *provider) Complete(ctx context.Context, _ cloud.Request) (*cloud.Response, error) {
	p.completes.Add(1)
	if err := p.Ping(ctx); err != nil {
		return nil, err
	}
	return &cloud.Response{Content: "ok"}, nil
}
func (p *provider) Stream(ctx context.Context, req cloud.Request, fn cloud.DeltaFunc) (*cloud.Response, error) {
	r, err := p.Complete(ctx, req)
	if err == nil {
		err = fn(r.Content)
	}
	return r, err
}

func TestGuard(t *testing.T) {
	p := &provider{}
	p.set(refused)
	tr := reach.New(p, reach.Options{FailureThreshold: 2, ProbeInterval: time.Hour})
	g := reach.NewGuard(p, tr)
	ctx := context.Background()
	for i := range 2 {
		if _, err := g.Complete(ctx, cloud.Request{}); !errors.Is(err, refused) {
			t.Fatalf("call %d: %v, want the provider's error", i, err)
		}
	}
	_, err := g.Complete(ctx, cloud.Request{})
	var nc *cloud.NotCalledError
	if !errors.As(err, &nc) || !errors.Is(err, cloud.ErrOffline) || !errors.Is(err, cloud.ErrUnavailable) {
		t.Fatalf("with the breaker open: %v, want a NotCalledError that is ErrOffline and ErrUnavailable", err)
	}
	if nc.RetryAfter <= 0 {
		t.Fatalf("RetryAfter %v, want the time to the next probe", nc.RetryAfter)
	}
	if _, err := g.Stream(ctx, cloud.Request{}, func(string) error { return nil }); !errors.Is(err, cloud.ErrOffline) {
		t.Fatalf("stream with the breaker open: %v", err)
	}
	if n := p.completes.Load(); n != 2 {
		t.Fatalf("the provider was called %d times, want 2 (none while open)", n)
	}

	// The offline switch: nothing leaves, not even a ping.
	off := &provider{}
	tr = reach.New(off, reach.Options{Offline: true})
	g = reach.NewGuard(off, tr)
	if _, err := g.Complete(ctx, cloud.Request{}); !errors.Is(err, cloud.ErrOffline) {
		t.Fatalf("offline: %v", err)
	}
	if err := g.Ping(ctx); !errors.Is(err, cloud.ErrOffline) {
		t.Fatalf("offline ping: %v", err)
	}
	if n := off.calls.Load() + off.completes.Load(); n != 0 {
		t.Fatalf("offline mode made %d calls", n)
	}
	tr.SetOffline(false)
	if r, err := g.Complete(ctx, cloud.Request{}); err != nil || r.Content != "ok" {
		t.Fatalf("back online: %v %v", r, err)
	}
}
