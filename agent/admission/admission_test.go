package admission_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/agent/admission"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/mock"
)

// pollUntil polls cond until it holds, failing the test after a generous
// deadline (a hang, not a timing expectation).
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func newAdmission(t *testing.T, running, queue int) *admission.Limiter {
	t.Helper()
	a, err := admission.New(running, queue)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestNewAdmissionRejectsBadLimits(t *testing.T) {
	for _, tc := range []struct{ running, queue int }{{0, 1}, {-1, 0}, {1, -1}} {
		if _, err := admission.New(tc.running, tc.queue); err == nil {
			t.Errorf("NewAdmission(%d, %d) accepted", tc.running, tc.queue)
		}
	}
}

func TestAdmissionCapacity(t *testing.T) {
	tests := []struct{ running, queue int }{{1, 0}, {1, 1}, {1, 16}, {2, 3}, {4, 0}}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("running %d queue %d", tc.running, tc.queue), func(t *testing.T) {
			a := newAdmission(t, tc.running, tc.queue)
			ctx := context.Background()
			var held []func()
			for range tc.running {
				release, err := a.Acquire(ctx)
				if err != nil {
					t.Fatalf("slot %d of %d refused: %v", len(held)+1, tc.running, err)
				}
				held = append(held, release)
			}
			// Fill the queue: these wait until a slot frees.
			var queued sync.WaitGroup
			var admitted atomic.Int64
			for range tc.queue {
				queued.Add(1)
				go func() {
					defer queued.Done()
					release, err := a.Acquire(ctx)
					if err != nil {
						t.Errorf("queued call refused: %v", err)
						return
					}
					admitted.Add(1)
					release()
				}()
			}
			pollUntil(t, "the queue to fill", func() bool { return a.Stats().Waiting == tc.queue })

			// One more is refused at once, with the state in the error.
			_, err := a.Acquire(ctx)
			var busy *admission.BusyError
			if !errors.As(err, &busy) {
				t.Fatalf("over capacity: got %v, want a *BusyError", err)
			}
			if !errors.Is(err, admission.ErrLocalBusy) || !errors.Is(err, models.ErrUnavailable) {
				t.Fatalf("busy error %v matches neither ErrLocalBusy nor models.ErrUnavailable", err)
			}
			if busy.Running != tc.running || busy.Waiting != tc.queue || busy.MaxConcurrent != tc.running || busy.MaxQueue != tc.queue {
				t.Fatalf("busy error %+v does not describe running %d, queue %d", busy, tc.running, tc.queue)
			}
			if busy.RetryAfter() < time.Second {
				t.Fatalf("retry after %s, want at least 1s", busy.RetryAfter())
			}
			if s := a.Stats(); s.Rejected != 1 || s.Running != tc.running {
				t.Fatalf("stats %+v, want 1 rejected and %d running", s, tc.running)
			}

			// Freeing the slots lets every queued call in.
			for _, release := range held {
				release()
			}
			queued.Wait()
			if n := admitted.Load(); n != int64(tc.queue) {
				t.Fatalf("%d queued calls admitted, want %d", n, tc.queue)
			}
			if s := a.Stats(); s.Running != 0 || s.Waiting != 0 {
				t.Fatalf("after all released: %+v, want nothing running or waiting", s)
			}
		})
	}
}

func TestAdmissionIsFirstComeFirstServed(t *testing.T) {
	const n = 6
	a := newAdmission(t, 1, n)
	release, err := a.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := a.Acquire(context.Background())
			if err != nil {
				t.Errorf("waiter %d: %v", i, err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			r()
		}()
		// Enqueue one at a time so the arrival order is known.
		pollUntil(t, fmt.Sprintf("waiter %d to queue", i), func() bool { return a.Stats().Waiting == i+1 })
	}
	release()
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("served in order %v, want arrival order", order)
		}
	}
}

func TestAdmissionCancelWhileWaiting(t *testing.T) {
	for _, tc := range []struct {
		name   string
		end    func(cancel context.CancelFunc)
		ctx    func() (context.Context, context.CancelFunc)
		target error
	}{
		{"canceled", func(cancel context.CancelFunc) { cancel() },
			func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, context.Canceled},
		{"deadline", func(context.CancelFunc) {},
			func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 20*time.Millisecond)
			}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAdmission(t, 1, 2)
			release, err := a.Acquire(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := tc.ctx()
			defer cancel()
			done := make(chan error, 1)
			go func() {
				r, err := a.Acquire(ctx)
				if r != nil {
					r()
				}
				done <- err
			}()
			pollUntil(t, "the waiter to queue", func() bool { return a.Stats().Waiting == 1 })
			tc.end(cancel)
			if err := <-done; !errors.Is(err, tc.target) {
				t.Fatalf("waiter got %v, want %v", err, tc.target)
			}
			if s := a.Stats(); s.Waiting != 0 || s.Running != 1 {
				t.Fatalf("after the waiter left: %+v, want 1 running and none waiting", s)
			}
			release()
			if s := a.Stats(); s.Running != 0 {
				t.Fatalf("slot not freed after the waiter left: %+v", s)
			}
			// The queue's room is back: both places can be taken again.
			r, err := a.Acquire(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			r()
		})
	}
}

func TestAdmissionRefusesEndedContext(t *testing.T) {
	a := newAdmission(t, 1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if s := a.Stats(); s != (admission.Stats{}) {
		t.Fatalf("an ended context changed the state: %+v", s)
	}
}

func TestAdmissionReleaseTwiceIsHarmless(t *testing.T) {
	a := newAdmission(t, 2, 0)
	r1, _ := a.Acquire(context.Background())
	r2, _ := a.Acquire(context.Background())
	r1()
	r1()
	if s := a.Stats(); s.Running != 1 {
		t.Fatalf("running %d after a double release, want 1", s.Running)
	}
	r3, err := a.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Acquire(context.Background()); err == nil {
		t.Fatal("a double release made room for a third call on two slots")
	}
	r2()
	r3()
}

// TestAdmissionUnderContention hammers the limiter with calls that hold,
// cancel, or are refused, and checks the bound is never exceeded and that
// nothing is left behind.
func TestAdmissionUnderContention(t *testing.T) {
	const maxRun, maxQueue, workers, rounds = 3, 5, 32, 200
	a := newAdmission(t, maxRun, maxQueue)
	var inside, peak atomic.Int64
	var ok, busy, canceled atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				ctx, cancel := context.WithCancel(context.Background())
				if (w+i)%7 == 0 {
					go cancel() // leaves the queue, or never enters
				}
				release, err := a.Acquire(ctx)
				switch {
				case err == nil:
					n := inside.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					time.Sleep(time.Duration(i%3) * 10 * time.Microsecond)
					inside.Add(-1)
					release()
					ok.Add(1)
				case errors.Is(err, admission.ErrLocalBusy):
					busy.Add(1)
				case errors.Is(err, context.Canceled):
					canceled.Add(1)
				default:
					t.Errorf("unexpected error %v", err)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > maxRun {
		t.Fatalf("%d calls ran at once, limit %d", p, maxRun)
	}
	if ok.Load()+busy.Load()+canceled.Load() != workers*rounds {
		t.Fatalf("outcomes %d+%d+%d do not add up to %d", ok.Load(), busy.Load(), canceled.Load(), workers*rounds)
	}
	s := a.Stats()
	if s.Running != 0 || s.Waiting != 0 {
		t.Fatalf("left behind: %+v", s)
	}
	if s.Rejected != uint64(busy.Load()) {
		t.Fatalf("rejected counter %d, refused calls %d", s.Rejected, busy.Load())
	}
}

func TestAdmittedModelFreesSlotOnErrorAndPanic(t *testing.T) {
	boom := errors.New("backend failed")
	fail := func(context.Context, models.Request) (*models.Response, error) { return nil, boom }
	chunk := func(_ context.Context, _ models.Request, fn models.ChunkFunc) (*models.Response, error) {
		return nil, fn(models.Chunk{Content: "x"})
	}
	tests := []struct {
		name  string
		call  func(m models.Model) error
		model *mock.Model
	}{
		{"chat error", func(m models.Model) error { _, err := m.Chat(context.Background(), models.Request{}); return err },
			&mock.Model{ChatFunc: fail}},
		{"chat panic", func(m models.Model) error { _, err := m.Chat(context.Background(), models.Request{}); return err },
			&mock.Model{ChatFunc: func(context.Context, models.Request) (*models.Response, error) { panic("backend panicked") }}},
		{"stream error", func(m models.Model) error {
			_, err := m.ChatStream(context.Background(), models.Request{}, func(models.Chunk) error { return nil })
			return err
		}, &mock.Model{ChatFunc: fail}},
		{"stream callback error", func(m models.Model) error {
			_, err := m.ChatStream(context.Background(), models.Request{}, func(models.Chunk) error { return boom })
			return err
		}, &mock.Model{ChatStreamFunc: chunk}},
		{"stream callback panic", func(m models.Model) error {
			_, err := m.ChatStream(context.Background(), models.Request{}, func(models.Chunk) error { panic("client gone") })
			return err
		}, &mock.Model{ChatStreamFunc: chunk}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAdmission(t, 1, 0)
			m := admission.Admit(tc.model, a)
			for range 3 { // a leaked slot would refuse the second call
				err := func() (err error) {
					defer func() {
						if v := recover(); v != nil {
							err = fmt.Errorf("panic: %v", v)
						}
					}()
					return tc.call(m)
				}()
				if err == nil || errors.Is(err, admission.ErrLocalBusy) {
					t.Fatalf("got %v, want the backend's failure", err)
				}
				if s := a.Stats(); s.Running != 0 {
					t.Fatalf("slot leaked: %+v", s)
				}
			}
		})
	}
}

func TestAdmitKeepsOptionalInterfaces(t *testing.T) {
	base := &mock.Model{ModelName: "stub", Caps: []string{"tools"}}
	render := func(context.Context, []models.Message) (string, error) { return "rendered", nil }
	type full struct {
		*mock.Model
		*mock.FeatureSource
		mock.ContextSizer
	}
	type featRender struct {
		*mock.Model
		*mock.FeatureSource
	}
	type renderSizer struct {
		*mock.Model
		mock.Renderer
		mock.ContextSizer
	}
	type renderer struct {
		*mock.Model
		mock.Renderer
	}
	type sizer struct {
		*mock.Model
		mock.ContextSizer
	}
	tests := []struct {
		name         string
		m            models.Model
		feat, render bool
		size         bool
	}{
		{"plain", base, false, false, false},
		{"all", full{base, &mock.FeatureSource{RenderFunc: render}, mock.ContextSizer{}}, true, true, true},
		{"features and renderer", featRender{base, &mock.FeatureSource{RenderFunc: render}}, true, true, false},
		{"renderer and context sizer", renderSizer{base, mock.Renderer{RenderFunc: render}, mock.ContextSizer{}}, false, true, true},
		{"renderer", renderer{base, mock.Renderer{RenderFunc: render}}, false, true, false},
		{"context sizer", sizer{base, mock.ContextSizer{}}, false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAdmission(t, 1, 0)
			w := admission.Admit(tc.m, a)
			f, isF := w.(models.FeatureExtractor)
			r, isR := w.(models.Renderer)
			c, isC := w.(models.ContextSizer)
			if isF != tc.feat || isR != tc.render || isC != tc.size {
				t.Fatalf("wrapper has features %v, renderer %v, sizer %v; want %v, %v, %v", isF, isR, isC, tc.feat, tc.render, tc.size)
			}
			if w.Name() != "stub" {
				t.Fatalf("name %q", w.Name())
			}
			// With the only slot taken, feature passes are refused;
			// rendering and the context length still answer.
			release, err := a.Acquire(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			if isF {
				if _, err := f.Features(context.Background(), "x"); !errors.Is(err, admission.ErrLocalBusy) {
					t.Fatalf("features while busy: got %v, want ErrLocalBusy", err)
				}
			}
			if isR {
				if s, err := r.Render(context.Background(), nil); err != nil || s != "rendered" {
					t.Fatalf("render while busy: %q, %v", s, err)
				}
			}
			if isC {
				if n, err := c.ContextLength(context.Background()); err != nil || n != 4096 {
					t.Fatalf("context length while busy: %d, %v", n, err)
				}
			}
			if err := w.Ping(context.Background()); err != nil {
				t.Fatalf("ping while busy: %v", err)
			}
			// The capabilities (which route tools and images) pass through.
			if cb, ok := w.(models.Capabler); !ok {
				t.Fatal("the wrapper hides the model's capabilities")
			} else if caps, err := cb.Capabilities(context.Background()); err != nil || len(caps) != 1 || caps[0] != "tools" {
				t.Fatalf("capabilities while busy: %v, %v", caps, err)
			}
			release()
			if isF {
				if _, err := f.Features(context.Background(), "x"); err != nil {
					t.Fatalf("features with a free slot: %v", err)
				}
			}
		})
	}
}

// TestAdmitEmbedder: an Embed holds a slot for its whole run; with it
// taken and no queue, the next is refused busy, and the slot is free again
// once it ends.
func TestAdmitEmbedder(t *testing.T) {
	a, err := admission.New(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	started, finish := make(chan struct{}), make(chan struct{})
	e := admission.AdmitEmbedder(&mock.Embedder{EmbedFunc: func(ctx context.Context, req models.EmbedRequest) (*models.Embeddings, error) {
		close(started)
		<-finish
		return &models.Embeddings{}, nil
	}}, a)
	done := make(chan error)
	go func() {
		_, err := e.Embed(context.Background(), models.EmbedRequest{Input: []string{"a"}})
		done <- err
	}()
	<-started
	var busy *admission.BusyError
	if _, err := e.Embed(context.Background(), models.EmbedRequest{Input: []string{"b"}}); !errors.As(err, &busy) {
		t.Fatalf("second embed while the first runs: %v, want busy", err)
	}
	close(finish)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	release, err := a.Acquire(context.Background())
	if err != nil {
		t.Fatalf("slot not freed: %v", err)
	}
	release()
}
