package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/events"
	"github.com/edgecascade/edgecascade/cloud"
)

// DrainOptions configure how deferred escalations are sent.
type DrainOptions struct {
	// Rate is how many deferred items are sent per second at most
	// (default 1).
	Rate float64
	// Retention is how long done and failed items are kept (default 7 days).
	Retention time.Duration
	// MaxBackoff caps the wait between attempts of one item (default 5m).
	MaxBackoff time.Duration
	// MaxAge is how long a queued item may wait to be sent before it fails
	// as expired (default 30 days).
	MaxAge time.Duration
	Log    *slog.Logger
}

// Store is what the drain needs of the outbox (*Outbox implements it).
type Store interface {
	Add(ctx context.Context, req Request, localAnswer, reason string) (*Item, error)
	Get(ctx context.Context, id string) (*Item, error)
	Stats(ctx context.Context) (Stats, error)
	Claim(ctx context.Context) (*Item, error)
	Complete(ctx context.Context, claimed *Item, a Answer) (*Item, error)
	Retry(ctx context.Context, claimed *Item, cause error, next time.Time) (*Item, error)
	Fail(ctx context.Context, claimed *Item, cause error) (*Item, error)
	Prune(ctx context.Context, cutoff time.Time) (int, error)
	Expire(ctx context.Context, cutoff time.Time, why string) ([]*Item, error)
}

var _ Store = (*Outbox)(nil)

// Deferrals is the outbox in the cascade: it stores deferred escalations
// (cascade.Deferrer) and drains them to the cloud when the gate opens.
type Deferrals struct {
	box    Store
	cloud  cloud.Provider
	gate   cascade.Gate
	events *events.Broker
	opts   DrainOptions
	log    *slog.Logger
	wake   chan struct{}
	// onDrain, when set, is told the result of each attempt (metrics).
	onDrain func(result string)
	// werr is the last failed write to the outbox (nil after a success).
	werr atomic.Pointer[error]
	// unsaved are outcomes of attempts that could not be written (a full
	// disk): each is written again before anything else is claimed, so its
	// item neither stays in sending nor goes to the cloud a second time.
	mu      sync.Mutex
	unsaved []func(context.Context) error
}

// wrote records the outcome of a write to the outbox, for /healthz.
func (d *Deferrals) wrote(err error) {
	if err == nil {
		d.werr.Store(nil)
		return
	}
	d.werr.Store(&err)
}

// WriteErr is the last failed write to the outbox, nil when the last write
// succeeded: a full or read-only disk shows in /healthz until a write works.
func (d *Deferrals) WriteErr() error {
	if p := d.werr.Load(); p != nil {
		return *p
	}
	return nil
}

// NewDeferrals returns the deferral queue over box, sending with p while
// gate allows, announcing on events (may be nil).
func NewDeferrals(box Store, p cloud.Provider, gate cascade.Gate, ev *events.Broker, opts DrainOptions) *Deferrals {
	if opts.Rate <= 0 {
		opts.Rate = 1
	}
	if opts.Retention <= 0 {
		opts.Retention = 7 * 24 * time.Hour
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 30 * 24 * time.Hour
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if gate == nil {
		gate = cascade.Gates{}
	}
	return &Deferrals{box: box, cloud: p, gate: gate, events: ev, opts: opts, log: log, wake: make(chan struct{}, 1)}
}

// Defer implements cascade.Deferrer.
func (d *Deferrals) Defer(ctx context.Context, req cascade.Request, localAnswer, reason string) (string, error) {
	it, err := d.box.Add(ctx, Request{Messages: req.Messages, MaxTokens: req.MaxTokens, Temperature: req.Temperature, Options: req.Options}, localAnswer, reason)
	if !errors.Is(err, ErrFull) { // a full outbox is not a failed write
		d.wrote(err)
	}
	if err != nil {
		return "", err
	}
	d.log.Info("deferred escalation", "id", it.ID)
	d.publish(events.Deferred, it)
	return it.ID, nil
}

// Get returns a deferred item.
func (d *Deferrals) Get(ctx context.Context, id string) (*Item, error) {
	return d.box.Get(ctx, id)
}

// Stats counts deferred items by state.
func (d *Deferrals) Stats(ctx context.Context) (Stats, error) { return d.box.Stats(ctx) }

// Wake makes the drain look at the queue now (the cloud came back).
func (d *Deferrals) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Deferrals) publish(typ string, it *Item) {
	if d.events != nil {
		d.events.Publish(typ, ItemView(it))
	}
}

// Run drains the outbox at the configured rate while the gate allows, and
// prunes old items and expires items waiting too long, until ctx ends. An
// item being sent when ctx ends is queued again before Run returns; an
// outcome that could not be written is tried once more then (if that
// fails too, the next start queues the item again).
func (d *Deferrals) Run(ctx context.Context) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / d.opts.Rate))
	defer tick.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	defer func() {
		if err := d.save(context.WithoutCancel(ctx)); err != nil {
			d.log.Error("outbox: an answered item could not be stored; it is sent again after the restart", "err", err)
		}
	}()
	d.prune(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-prune.C:
			d.prune(ctx)
			continue
		case <-d.wake:
		case <-tick.C:
		}
		if err := d.save(ctx); err != nil {
			d.log.Error("outbox: store the outcome of an attempt", "err", err)
			continue // the disk is still full: claiming would fail too
		}
		if ok, _ := d.gate.Allow(); !ok {
			continue
		}
		if _, err := d.DrainOne(ctx); err != nil {
			d.log.Error("drain the outbox", "err", err)
		}
	}
}

func (d *Deferrals) prune(ctx context.Context) {
	n, err := d.box.Prune(ctx, time.Now().Add(-d.opts.Retention))
	if err != nil {
		d.log.Error("prune the outbox", "err", err)
	} else if n > 0 {
		d.log.Info("pruned old deferred items", "n", n, "retention", d.opts.Retention)
	}
	why := fmt.Sprintf("expired: not sent within outbox.max_age (%s)", d.opts.MaxAge)
	expired, err := d.box.Expire(ctx, time.Now().Add(-d.opts.MaxAge), why)
	d.wrote(err)
	if err != nil {
		d.log.Error("expire old deferred items", "err", err)
	}
	for _, it := range expired {
		d.log.Warn("deferred item expired", "id", it.ID, "max_age", d.opts.MaxAge)
		d.publish(events.DeferredFailed, it)
	}
}

// store writes an attempt's outcome with write; when that fails, the
// write is kept and tried again by save before anything else.
func (d *Deferrals) store(ctx context.Context, write func(context.Context) error) error {
	err := write(ctx)
	d.wrote(err)
	if err != nil {
		d.mu.Lock()
		d.unsaved = append(d.unsaved, write)
		d.mu.Unlock()
	}
	return err
}

// save writes the outcomes that could not be written before, oldest first,
// stopping at the first that still fails.
func (d *Deferrals) save(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.unsaved) > 0 {
		err := d.unsaved[0](ctx)
		if errors.Is(err, ErrState) || errors.Is(err, ErrNotFound) {
			// The item moved on without this outcome: writing it again
			// cannot work, and must not hold up the others.
			d.log.Error("outbox: an unsaved outcome no longer applies", "err", err)
			d.unsaved = d.unsaved[1:]
			continue
		}
		d.wrote(err)
		if err != nil {
			return err
		}
		d.unsaved = d.unsaved[1:]
	}
	return nil
}

// backoff is the wait before the attempt after the n-th.
func (d *Deferrals) backoff(n int) time.Duration {
	if n > 20 {
		return d.opts.MaxBackoff
	}
	return min(time.Second<<max(n-1, 0), d.opts.MaxBackoff)
}

// DrainOne sends the oldest due item to the cloud and records the outcome.
// It reports whether there was an item.
func (d *Deferrals) DrainOne(ctx context.Context) (bool, error) {
	if err := d.save(ctx); err != nil {
		return false, err
	}
	it, err := d.box.Claim(ctx)
	if err != nil || it == nil {
		return false, err
	}
	if it.Request == nil {
		_, err := d.box.Fail(context.WithoutCancel(ctx), it, errors.New("the stored request is missing"))
		return true, err
	}
	resp, err := d.cloud.Complete(ctx, cloud.Request{Messages: it.Request.Messages, MaxTokens: it.Request.MaxTokens, Temperature: it.Request.Temperature, Options: it.Request.Options})
	// The outcome must be stored even when ctx ends now.
	sctx := context.WithoutCancel(ctx)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			rerr := d.store(sctx, func(ctx context.Context) error {
				_, err := d.box.Retry(ctx, it, errors.New("interrupted: the daemon is stopping"), time.Now())
				return err
			})
			d.result("interrupted")
			return true, rerr
		case cascade.Deferrable(err):
			wait := d.backoff(it.Attempts)
			var nc *cloud.NotCalledError
			if errors.As(err, &nc) && nc.RetryAfter > wait {
				wait = nc.RetryAfter
			}
			next := time.Now().Add(wait)
			rerr := d.store(sctx, func(ctx context.Context) error {
				_, werr := d.box.Retry(ctx, it, err, next)
				return werr
			})
			d.log.Info("deferred item not sent; will retry", "id", it.ID, "attempt", it.Attempts, "in", wait, "err", err)
			d.result("retry")
			return true, rerr
		default:
			// The cloud refused the request itself: retrying cannot help.
			d.log.Warn("deferred item refused by the cloud", "id", it.ID, "err", err)
			d.result("failed")
			ferr := d.store(sctx, func(ctx context.Context) error {
				failed, werr := d.box.Fail(ctx, it, err)
				if werr == nil {
					d.publish(events.DeferredFailed, failed)
				}
				return werr
			})
			return true, ferr
		}
	}
	answer := Answer{
		Content: resp.Content, ToolCalls: resp.ToolCalls, FinishReason: resp.FinishReason, Provider: resp.Provider, Model: resp.Model,
		PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens, Cost: resp.Cost,
	}
	err = d.store(sctx, func(ctx context.Context) error {
		done, err := d.box.Complete(ctx, it, answer)
		if err != nil {
			return fmt.Errorf("store the answer of %s (attempt %d; kept in memory, stored once a write works): %w", it.ID, it.Attempts, err)
		}
		d.result("done")
		d.log.Info("deferred item answered", "id", it.ID, "provider", resp.Provider, "attempts", it.Attempts)
		d.publish(events.DeferredDone, done)
		return nil
	})
	return true, err
}

// OnDrain sets fn to be told the result of each attempt: done, retry,
// failed or interrupted (for metrics). Call it before Run.
func (d *Deferrals) OnDrain(fn func(result string)) { d.onDrain = fn }

func (d *Deferrals) result(r string) {
	if d.onDrain != nil {
		d.onDrain(r)
	}
}

// DeferredItem is the API view of a deferred item.
type DeferredItem struct {
	Object      string  `json:"object"`
	ID          string  `json:"id"`
	State       State   `json:"state"`
	Created     int64   `json:"created"`
	Reason      string  `json:"reason,omitempty"`
	LocalAnswer string  `json:"local_answer,omitempty"`
	Attempts    int     `json:"attempts"`
	NextAttempt *int64  `json:"next_attempt,omitempty"`
	LastError   string  `json:"last_error,omitempty"`
	Answer      *Answer `json:"answer,omitempty"`
	Finished    *int64  `json:"finished,omitempty"`
}

// ItemView is the API view of it (times in Unix seconds).
func ItemView(it *Item) DeferredItem {
	v := DeferredItem{Object: "cascade.deferred", ID: it.ID, State: it.State, Created: it.Created.Unix(), Reason: it.Reason,
		LocalAnswer: it.LocalAnswer, Attempts: it.Attempts, LastError: it.LastError, Answer: it.Answer}
	if it.State == StateQueued && !it.NextAttempt.IsZero() {
		t := it.NextAttempt.Unix()
		v.NextAttempt = &t
	}
	if it.Finished != nil {
		t := it.Finished.Unix()
		v.Finished = &t
	}
	return v
}
