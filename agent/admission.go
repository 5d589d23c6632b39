package agent

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/edgecascade/edgecascade/models"
)

// ErrLocalBusy means the local model is running as many requests as it may
// and its queue is full.
var ErrLocalBusy = errors.New("local model busy")

// BusyError is a request refused by the admission limiter. It matches
// ErrLocalBusy and models.ErrUnavailable, so under policy auto the cascade
// answers from the cloud, and under policy local the API answers 503 with a
// Retry-After header.
type BusyError struct {
	Running, Waiting int
	MaxConcurrent    int
	MaxQueue         int
	// After is the estimated time until the queue has room again.
	After time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("local model busy: %d running and %d waiting (local.max_concurrent %d, local.max_queue %d); retry in %s",
		e.Running, e.Waiting, e.MaxConcurrent, e.MaxQueue, e.After)
}

// Unwrap lets errors.Is match ErrLocalBusy and models.ErrUnavailable.
func (e *BusyError) Unwrap() []error { return []error{ErrLocalBusy, models.ErrUnavailable} }

// RetryAfter is how long the client should wait before retrying.
func (e *BusyError) RetryAfter() time.Duration { return e.After }

// Admission bounds the work on the local model: at most MaxConcurrent calls
// run at once, at most MaxQueue more wait (first come, first served), and any
// call beyond that is refused at once with a *BusyError. A waiting call leaves
// the queue when its context ends. Safe for concurrent use.
type Admission struct {
	maxRun, maxQueue int

	mu       sync.Mutex
	running  int
	queue    list.List // of *waiter, oldest first
	rejected uint64
	mean     time.Duration // moving average of the time a slot is held
}

type waiter struct {
	granted bool // set under Admission.mu when a slot is handed over
	ready   chan struct{}
}

// meanWeight is the weight of the newest service time in the moving average.
const meanWeight = 0.2

// NewAdmission returns a limiter for maxConcurrent running and maxQueue
// waiting calls.
func NewAdmission(maxConcurrent, maxQueue int) (*Admission, error) {
	if maxConcurrent < 1 {
		return nil, fmt.Errorf("admission: max concurrent must be at least 1, got %d", maxConcurrent)
	}
	if maxQueue < 0 {
		return nil, fmt.Errorf("admission: max queue must not be negative, got %d", maxQueue)
	}
	return &Admission{maxRun: maxConcurrent, maxQueue: maxQueue}, nil
}

// AdmissionStats is a snapshot of the limiter.
type AdmissionStats struct {
	Running, Waiting int
	// Rejected counts the calls refused since the start.
	Rejected uint64
	// MeanService is the moving average of the time a call held its slot.
	MeanService time.Duration
}

// Stats returns a snapshot.
func (a *Admission) Stats() AdmissionStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return AdmissionStats{Running: a.running, Waiting: a.queue.Len(), Rejected: a.rejected, MeanService: a.mean}
}

// Acquire takes a slot, waiting in the queue when all are taken and the
// queue has room. It returns a *BusyError when the queue is full, and the
// context's error when the context ends first. The caller must call release
// exactly once when done (further calls do nothing).
func (a *Admission) Acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("wait for the local model: %w", err)
	}
	a.mu.Lock()
	if a.running < a.maxRun {
		a.running++
		a.mu.Unlock()
		return a.releaser(), nil
	}
	if a.queue.Len() >= a.maxQueue {
		a.rejected++
		err := &BusyError{Running: a.running, Waiting: a.queue.Len(), MaxConcurrent: a.maxRun, MaxQueue: a.maxQueue, After: a.retryAfter()}
		a.mu.Unlock()
		return nil, err
	}
	w := &waiter{ready: make(chan struct{})}
	el := a.queue.PushBack(w)
	a.mu.Unlock()

	select {
	case <-w.ready:
		return a.releaser(), nil
	case <-ctx.Done():
		a.mu.Lock()
		if w.granted {
			// The slot arrived together with the cancellation: pass it on.
			a.mu.Unlock()
			a.release()
		} else {
			a.queue.Remove(el)
			a.mu.Unlock()
		}
		return nil, fmt.Errorf("wait for the local model: %w", ctx.Err())
	}
}

// releaser returns the release function of a slot taken now.
func (a *Admission) releaser() func() {
	start := time.Now()
	var once sync.Once
	return func() {
		once.Do(func() {
			a.observe(time.Since(start))
			a.release()
		})
	}
}

func (a *Admission) observe(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mean == 0 {
		a.mean = d
		return
	}
	a.mean = time.Duration(meanWeight*float64(d) + (1-meanWeight)*float64(a.mean))
}

// release hands the slot to the oldest waiter, or frees it.
func (a *Admission) release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if front := a.queue.Front(); front != nil {
		w := a.queue.Remove(front).(*waiter)
		w.granted = true
		close(w.ready)
		return
	}
	a.running--
}

// retryAfter estimates how long the queue takes to drain: the mean service
// time times the calls ahead (the queue and one more) over the slots, at
// least a second. Called with a.mu held.
func (a *Admission) retryAfter() time.Duration {
	d := time.Duration(float64(a.mean) * float64(a.queue.Len()+1) / float64(a.maxRun))
	return max(time.Second, d)
}

// retryAfterSeconds is d as the whole seconds of a Retry-After header,
// rounded up, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// Admit returns m behind the limiter a: Chat, ChatStream and (when m has
// it) Features take a slot for their whole run; Name, Ping, Render and
// ContextLength pass straight through (they do not generate). The result
// implements exactly the optional interfaces (models.FeatureExtractor,
// models.Renderer, models.ContextSizer) that m implements.
func Admit(m models.Model, a *Admission) models.Model {
	base := &admitted{m: m, a: a}
	f, isF := m.(models.FeatureExtractor)
	r, isR := m.(models.Renderer)
	c, isC := m.(models.ContextSizer)
	var af models.FeatureExtractor
	if isF {
		af = admittedFeatures{f: f, a: a}
	}
	type (
		F = models.FeatureExtractor
		R = models.Renderer
		C = models.ContextSizer
	)
	switch {
	case isF && isR && isC:
		return struct {
			*admitted
			F
			R
			C
		}{base, af, r, c}
	case isF && isR:
		return struct {
			*admitted
			F
			R
		}{base, af, r}
	case isF && isC:
		return struct {
			*admitted
			F
			C
		}{base, af, c}
	case isR && isC:
		return struct {
			*admitted
			R
			C
		}{base, r, c}
	case isF:
		return struct {
			*admitted
			F
		}{base, af}
	case isR:
		return struct {
			*admitted
			R
		}{base, r}
	case isC:
		return struct {
			*admitted
			C
		}{base, c}
	default:
		return base
	}
}

// admitted is a model whose generations go through the limiter.
type admitted struct {
	m models.Model
	a *Admission
}

func (l *admitted) Name() string { return l.m.Name() }

func (l *admitted) Ping(ctx context.Context) error { return l.m.Ping(ctx) }

func (l *admitted) Chat(ctx context.Context, req models.Request) (*models.Response, error) {
	release, err := l.a.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return l.m.Chat(ctx, req)
}

func (l *admitted) ChatStream(ctx context.Context, req models.Request, fn models.ChunkFunc) (*models.Response, error) {
	release, err := l.a.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return l.m.ChatStream(ctx, req, fn)
}

// admittedFeatures is a feature extractor whose forward passes go through
// the limiter: they run on the same backend as the generations.
type admittedFeatures struct {
	f models.FeatureExtractor
	a *Admission
}

func (l admittedFeatures) Features(ctx context.Context, text string) ([]float32, error) {
	release, err := l.a.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return l.f.Features(ctx, text)
}
