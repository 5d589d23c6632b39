package outbox_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/agent/events"
	"github.com/edgecascade/edgecascade/agent/outbox"
	"github.com/edgecascade/edgecascade/cloud"
	cloudmock "github.com/edgecascade/edgecascade/cloud/mock"
)

// fullDisk is the real outbox whose writes of an attempt's outcome fail
// while full is set, as they do on a full disk.
type fullDisk struct {
	*outbox.Outbox
	full atomic.Bool
}

var errNoSpace = errors.New("write outbox.db: no space left on device")

func (f *fullDisk) Complete(ctx context.Context, it *outbox.Item, a outbox.Answer) (*outbox.Item, error) {
	if f.full.Load() {
		return nil, errNoSpace
	}
	return f.Outbox.Complete(ctx, it, a)
}

func (f *fullDisk) Retry(ctx context.Context, it *outbox.Item, cause error, next time.Time) (*outbox.Item, error) {
	if f.full.Load() {
		return nil, errNoSpace
	}
	return f.Outbox.Retry(ctx, it, cause, next)
}

// TestAnswerKeptWhenItCannotBeStored (issue 14 item 3): when the write
// after the cloud's answer fails, the item does not stay in sending until a
// restart (and then go to the cloud again): the answer is stored once a
// write works, and the cloud is asked once. The same for a retry whose
// write failed.
func TestAnswerKeptWhenItCannotBeStored(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cloudErr error
		want     outbox.State
		calls    int
	}{
		{name: "answered", want: outbox.StateDone, calls: 1},
		{name: "retry", cloudErr: &cloud.Error{Provider: "mock", Status: 503, Err: cloud.ErrUnavailable}, want: outbox.StateQueued, calls: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			box, _, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = box.Close() }()
			disk := &fullDisk{Outbox: box}
			p := &cloudmock.Provider{Answer: cloud.Response{Content: "Paris"}}
			if tc.cloudErr != nil {
				p.CompleteFunc = func(context.Context, cloud.Request) (*cloud.Response, error) { return nil, tc.cloudErr }
			}
			broker := events.NewBroker()
			sub, cancel := broker.Subscribe()
			defer cancel()
			d := outbox.NewDeferrals(disk, p, nil, broker, outbox.DrainOptions{})
			it, err := box.Add(ctx, req("capital of France?"), "Lyon", "low confidence")
			if err != nil {
				t.Fatal(err)
			}
			full := func() { disk.full.Store(true) }
			orig := p.CompleteFunc
			p.CompleteFunc = func(ctx context.Context, r cloud.Request) (*cloud.Response, error) {
				full() // the disk is full by the time the answer is back
				if orig != nil {
					return orig(ctx, r)
				}
				return &cloud.Response{Content: "Paris", Provider: "mock"}, nil
			}
			if _, err := d.DrainOne(ctx); err == nil || !strings.Contains(err.Error(), "no space") {
				t.Fatalf("drain on a full disk: %v, want the write error", err)
			}
			if got, _ := box.Get(ctx, it.ID); got.State != outbox.StateSending {
				t.Fatalf("state %s right after the failed write", got.State)
			}
			if d.WriteErr() == nil {
				t.Fatal("the failed write does not show (healthz)")
			}
			// The disk has room again: the next round stores the outcome
			// without asking the cloud again.
			disk.full.Store(false)
			p.CompleteFunc = func(context.Context, cloud.Request) (*cloud.Response, error) {
				t.Error("the cloud was asked again for an answer it already gave")
				return nil, errors.New("no")
			}
			if tc.want == outbox.StateQueued {
				p.CompleteFunc = func(context.Context, cloud.Request) (*cloud.Response, error) { return nil, tc.cloudErr }
			}
			if _, err := d.DrainOne(ctx); err != nil {
				t.Fatal(err)
			}
			got, _ := box.Get(ctx, it.ID)
			if got.State != tc.want || d.WriteErr() != nil {
				t.Fatalf("state %s (write error %v), want %s", got.State, d.WriteErr(), tc.want)
			}
			if tc.want == outbox.StateDone {
				if got.Answer == nil || got.Answer.Content != "Paris" || p.Calls() != 1 {
					t.Fatalf("answer %+v after %d cloud calls, want Paris after 1", got.Answer, p.Calls())
				}
				select {
				case ev := <-sub:
					if ev.Type != events.DeferredDone {
						t.Fatalf("event %s", ev.Type)
					}
				default:
					t.Fatal("deferred.done was not announced")
				}
			}
		})
	}
}

// TestExpireOldItems (issue 14 item 9): a queued item older than MaxAge
// fails as expired, with the reason, and is announced.
func TestExpireOldItems(t *testing.T) {
	ctx := context.Background()
	past := time.Now().Add(-48 * time.Hour)
	box, _, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{Now: func() time.Time { return past }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = box.Close() }()
	old, _ := box.Add(ctx, req("old"), "", "offline")
	broker := events.NewBroker()
	sub, cancel := broker.Subscribe()
	defer cancel()
	d := outbox.NewDeferrals(box, &cloudmock.Provider{}, nil, broker, outbox.DrainOptions{MaxAge: 24 * time.Hour})
	stopped, stop := context.WithCancel(ctx)
	stop()
	d.Run(stopped) // prunes and expires once at start, then stops
	got, _ := box.Get(ctx, old.ID)
	if got.State != outbox.StateFailed || !strings.Contains(got.LastError, "outbox.max_age (24h0m0s)") {
		t.Fatalf("old item %+v", got)
	}
	select {
	case ev := <-sub:
		if ev.Type != events.DeferredFailed {
			t.Fatalf("event %s", ev.Type)
		}
	default:
		t.Fatal("the expiry was not announced")
	}
}
