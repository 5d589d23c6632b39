// Package reach tracks whether the cloud can be called: a forced offline
// switch, a circuit breaker that opens after consecutive failures, and a
// probe loop with exponential backoff that closes it again when the
// provider answers. Guard wraps a cloud.Provider so that calls fail at once,
// with cloud.ErrOffline, while the cloud is out of reach.
package reach

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
)

// State is the cloud's reachability.
type State string

// The states.
const (
	// StateOnline: calls go through (breaker closed).
	StateOnline State = "online"
	// StateUnreachable: the breaker is open after consecutive failures;
	// probes run with backoff until the provider answers.
	StateUnreachable State = "unreachable"
	// StateOffline: the offline switch is on; nothing is sent.
	StateOffline State = "offline"
)

// Options configure a Tracker.
type Options struct {
	// Offline is the offline switch: no call and no probe leaves the device.
	Offline bool
	// FailureThreshold is how many consecutive failures open the breaker
	// (default 3).
	FailureThreshold int
	// ProbeInterval is the first wait between probes while the breaker is
	// open (default 5s); it doubles up to MaxProbeInterval (default 5m).
	ProbeInterval, MaxProbeInterval time.Duration
	// ProbeTimeout bounds each probe (default 5s).
	ProbeTimeout time.Duration
	// OnChange, when set, is called (outside the lock) after each state
	// change.
	OnChange func(Status)
	Log      *slog.Logger
	Now      func() time.Time
}

// Status is a snapshot of the tracker.
type Status struct {
	State State `json:"state"`
	// Failures counts consecutive failures.
	Failures int `json:"consecutive_failures"`
	// LastError is the last failure, if any.
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since"`
	// NextProbe is when the next probe runs while unreachable.
	NextProbe *time.Time `json:"next_probe,omitempty"`
}

// Pinger checks that the provider answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Tracker is the cloud's reachability. Safe for concurrent use.
type Tracker struct {
	opts Options
	ping Pinger
	wake chan struct{}

	mu        sync.Mutex
	offline   bool
	open      bool
	failures  int
	lastErr   string
	since     time.Time
	nextProbe time.Time
	backoff   time.Duration
}

// New returns a tracker that probes with p while the breaker is open.
func New(p Pinger, opts Options) *Tracker {
	if opts.FailureThreshold <= 0 {
		opts.FailureThreshold = 3
	}
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = 5 * time.Second
	}
	if opts.MaxProbeInterval < opts.ProbeInterval {
		opts.MaxProbeInterval = max(5*time.Minute, opts.ProbeInterval)
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Tracker{opts: opts, ping: p, wake: make(chan struct{}, 1), offline: opts.Offline, since: opts.Now(), backoff: opts.ProbeInterval}
}

func (t *Tracker) stateLocked() State {
	switch {
	case t.offline:
		return StateOffline
	case t.open:
		return StateUnreachable
	}
	return StateOnline
}

func (t *Tracker) statusLocked() Status {
	s := Status{State: t.stateLocked(), Failures: t.failures, LastError: t.lastErr, Since: t.since}
	if s.State == StateUnreachable {
		np := t.nextProbe
		s.NextProbe = &np
	}
	return s
}

// Status returns the current state.
func (t *Tracker) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.statusLocked()
}

// Allow reports whether a cloud call may be made now and, when not, why.
func (t *Tracker) Allow() (bool, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch t.stateLocked() {
	case StateOffline:
		return false, "offline mode is on"
	case StateUnreachable:
		return false, fmt.Sprintf("cloud unreachable after %d consecutive failures (last: %s)", t.failures, t.lastErr)
	}
	return true, ""
}

// change runs fn under the lock and reports a state change afterwards.
func (t *Tracker) change(fn func()) {
	t.mu.Lock()
	before := t.stateLocked()
	fn()
	after := t.stateLocked()
	if before != after {
		t.since = t.opts.Now()
	}
	st := t.statusLocked()
	t.mu.Unlock()
	if before != after {
		t.opts.Log.Info("cloud reachability changed", "from", before, "to", after, "last_error", st.LastError)
		if t.opts.OnChange != nil {
			t.opts.OnChange(st)
		}
	}
}

// Success records a call or probe that reached the provider.
func (t *Tracker) Success() {
	t.change(func() {
		t.failures, t.lastErr, t.open = 0, "", false
		t.backoff = t.opts.ProbeInterval
	})
}

// Failure records a failed call. Only failures that mean the provider is
// out of reach (cloud.ErrUnavailable: no answer, 429, 5xx) count; a request
// the provider rejected proves it is reachable.
func (t *Tracker) Failure(err error) {
	switch {
	case err == nil || errors.Is(err, context.Canceled):
		return
	case errors.Is(err, cloud.ErrOffline) || errors.Is(err, cloud.ErrBudget):
		return // no call was made
	case !errors.Is(err, cloud.ErrUnavailable):
		t.Success() // the provider answered, if only to refuse
		return
	}
	opened := false
	t.change(func() {
		t.failures++
		t.lastErr = err.Error()
		if !t.open && t.failures >= t.opts.FailureThreshold {
			t.open, opened = true, true
			t.backoff = t.opts.ProbeInterval
			t.nextProbe = t.opts.Now().Add(t.backoff)
		}
	})
	if opened {
		t.poke()
	}
}

// SetOffline turns the offline switch on or off (a config reload).
func (t *Tracker) SetOffline(off bool) {
	t.change(func() { t.offline = off })
	t.poke()
}

func (t *Tracker) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Run probes the provider while the breaker is open, with exponential
// backoff, until ctx ends.
func (t *Tracker) Run(ctx context.Context) {
	for {
		t.mu.Lock()
		probing := t.open && !t.offline
		wait := time.Hour
		if probing {
			wait = max(t.nextProbe.Sub(t.opts.Now()), 0)
		}
		t.mu.Unlock()
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-t.wake:
			timer.Stop()
			continue
		case <-timer.C:
		}
		if probing {
			t.probe(ctx)
		}
	}
}

// probe pings the provider once: success closes the breaker, failure
// doubles the wait.
func (t *Tracker) probe(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, t.opts.ProbeTimeout)
	err := t.ping.Ping(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err == nil || !errors.Is(err, cloud.ErrUnavailable) {
		// An answer, even a refusal of the key, means the network is back.
		t.opts.Log.Debug("cloud probe answered", "err", err)
		t.Success()
		return
	}
	t.change(func() {
		t.lastErr = err.Error()
		t.backoff = min(t.backoff*2, t.opts.MaxProbeInterval)
		t.nextProbe = t.opts.Now().Add(t.backoff)
	})
	t.opts.Log.Debug("cloud probe failed", "err", err, "next", t.backoff)
}
