// Package admission bounds the work on the local model: a limiter with a
// fixed number of slots and a bounded first-come-first-served queue, and
// Admit, which puts a model behind it.
package admission

import (
	"container/list"
	"context"
	"errors"
	"fmt"
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

// Limiter bounds the work on the local model: at most MaxConcurrent calls
// run at once, at most MaxQueue more wait (first come, first served), and any
// call beyond that is refused at once with a *BusyError. A waiting call leaves
// the queue when its context ends. Safe for concurrent use.
type Limiter struct {
	maxRun, maxQueue int

	mu       sync.Mutex
	running  int
	queue    list.List // of *waiter, oldest first
	rejected uint64
	mean     time.Duration // moving average of the time a slot is held
}

type waiter struct {
	granted bool // set under Limiter.mu when a slot is handed over
	ready   chan struct{}
}

// meanWeight is the weight of the newest service time in the moving average.
const meanWeight = 0.2

// New returns a limiter for maxConcurrent running and maxQueue waiting
// calls.
func New(maxConcurrent, maxQueue int) (*Limiter, error) {
	if maxConcurrent < 1 {
		return nil, fmt.Errorf("admission: max concurrent must be at least 1, got %d", maxConcurrent)
	}
	if maxQueue < 0 {
		return nil, fmt.Errorf("admission: max queue must not be negative, got %d", maxQueue)
	}
	return &Limiter{maxRun: maxConcurrent, maxQueue: maxQueue}, nil
}

// Stats is a snapshot of the limiter.
type Stats struct {
	Running, Waiting int
	// Rejected counts the calls refused since the start.
	Rejected uint64
	// MeanService is the moving average of the time a call held its slot.
	MeanService time.Duration
}

// Stats returns a snapshot.
func (a *Limiter) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Stats{Running: a.running, Waiting: a.queue.Len(), Rejected: a.rejected, MeanService: a.mean}
}

// Acquire takes a slot, waiting in the queue when all are taken and the
// queue has room. It returns a *BusyError when the queue is full, and the
// context's error when the context ends first. The caller must call release
// exactly once when done (further calls do nothing).
func (a *Limiter) Acquire(ctx context.Context) (release func(), err error) {
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
func (a *Limiter) releaser() func() {
	start := time.Now()
	var once sync.Once
	return func() {
		once.Do(func() {
			a.observe(time.Since(start))
			a.release()
		})
	}
}

func (a *Limiter) observe(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mean == 0 {
		a.mean = d
		return
	}
	a.mean = time.Duration(meanWeight*float64(d) + (1-meanWeight)*float64(a.mean))
}

// release hands the slot to the oldest waiter, or frees it.
func (a *Limiter) release() {
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
func (a *Limiter) retryAfter() time.Duration {
	d := time.Duration(float64(a.mean) * float64(a.queue.Len()+1) / float64(a.maxRun))
	return max(time.Second, d)
}

// Admit returns m behind the limiter a: Chat, ChatStream and (when m has
// it) Features take a slot for their whole run; Name, Ping, Render,
// ContextLength and Capabilities pass straight through (they do not
// generate). The result implements exactly the optional interfaces
// (models.FeatureExtractor, models.Renderer, models.ContextSizer) that m
// implements, and models.Capabler always (text only when m is not one).
func Admit(m models.Model, a *Limiter) models.Model {
	p := parts{base: &admitted{m: m, a: a}}
	var has extras
	if f, ok := m.(models.FeatureExtractor); ok {
		p.f, has = admittedFeatures{f: f, a: a}, has|hasFeatures
	}
	if r, ok := m.(models.Renderer); ok {
		p.r, has = r, has|hasRenderer
	}
	if c, ok := m.(models.ContextSizer); ok {
		p.c, has = c, has|hasContextSizer
	}
	return combine[has](p)
}

// extras is the set of optional interfaces a model implements.
type extras uint8

const (
	hasFeatures extras = 1 << iota
	hasRenderer
	hasContextSizer
)

// parts are the pieces of an admitted model: the limited generations and
// the optional interfaces of the model (features limited too).
type parts struct {
	base *admitted
	f    models.FeatureExtractor
	r    models.Renderer
	c    models.ContextSizer
}

type (
	withF struct {
		*admitted
		models.FeatureExtractor
	}
	withR struct {
		*admitted
		models.Renderer
	}
	withC struct {
		*admitted
		models.ContextSizer
	}
	withFR struct {
		*admitted
		models.FeatureExtractor
		models.Renderer
	}
	withFC struct {
		*admitted
		models.FeatureExtractor
		models.ContextSizer
	}
	withRC struct {
		*admitted
		models.Renderer
		models.ContextSizer
	}
	withFRC struct {
		*admitted
		models.FeatureExtractor
		models.Renderer
		models.ContextSizer
	}
)

// combine builds, for each set of extras, the type that implements exactly
// those interfaces (Go cannot add methods to a value at run time).
var combine = [8]func(parts) models.Model{
	0:                             func(p parts) models.Model { return p.base },
	hasFeatures:                   func(p parts) models.Model { return withF{p.base, p.f} },
	hasRenderer:                   func(p parts) models.Model { return withR{p.base, p.r} },
	hasContextSizer:               func(p parts) models.Model { return withC{p.base, p.c} },
	hasFeatures | hasRenderer:     func(p parts) models.Model { return withFR{p.base, p.f, p.r} },
	hasFeatures | hasContextSizer: func(p parts) models.Model { return withFC{p.base, p.f, p.c} },
	hasRenderer | hasContextSizer: func(p parts) models.Model { return withRC{p.base, p.r, p.c} },
	hasFeatures | hasRenderer | hasContextSizer: func(p parts) models.Model { return withFRC{p.base, p.f, p.r, p.c} },
}

// admitted is a model whose generations go through the limiter.
type admitted struct {
	m models.Model
	a *Limiter
}

func (l *admitted) Name() string { return l.m.Name() }

func (l *admitted) Ping(ctx context.Context) error { return l.m.Ping(ctx) }

// Capabilities are m's (none beyond text when m does not report them).
func (l *admitted) Capabilities(ctx context.Context) ([]string, error) {
	if c, ok := l.m.(models.Capabler); ok {
		return c.Capabilities(ctx)
	}
	return nil, nil
}

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
	a *Limiter
}

func (l admittedFeatures) Features(ctx context.Context, text string) ([]float32, error) {
	release, err := l.a.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return l.f.Features(ctx, text)
}

// AdmitEmbedder returns e behind the limiter a: each Embed takes a slot for
// its whole run, as it runs on the same backend as the generations.
func AdmitEmbedder(e models.Embedder, a *Limiter) models.Embedder {
	return admittedEmbedder{e: e, a: a}
}

type admittedEmbedder struct {
	e models.Embedder
	a *Limiter
}

func (l admittedEmbedder) Embed(ctx context.Context, req models.EmbedRequest) (*models.Embeddings, error) {
	release, err := l.a.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return l.e.Embed(ctx, req)
}
