package outbox_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/agent/outbox"
	"github.com/edgecascade/edgecascade/models"
)

func req(q string) outbox.Request {
	return outbox.Request{Messages: []models.Message{{Role: "user", Content: q}}, MaxTokens: 16}
}

func openBox(t *testing.T, path string, now func() time.Time) (*outbox.Outbox, int) {
	t.Helper()
	o, n, err := outbox.Open(path, outbox.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return o, n
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	o, _ := openBox(t, path, nil)
	defer func() { _ = o.Close() }()

	var ids []string
	for _, q := range []string{"first", "second", "third"} {
		it, err := o.Add(ctx, req(q), "local "+q, "low confidence")
		if err != nil {
			t.Fatal(err)
		}
		if !outbox.ValidID(it.ID) || it.State != outbox.StateQueued {
			t.Fatalf("added %+v", it)
		}
		ids = append(ids, it.ID)
	}
	// Oldest first.
	a, err := o.Claim(ctx)
	if err != nil || a == nil || a.ID != ids[0] || a.State != outbox.StateSending || a.Attempts != 1 {
		t.Fatalf("claim: %+v %v", a, err)
	}
	done, err := o.Complete(ctx, a, outbox.Answer{Content: "cloud first", Provider: "openai"})
	if err != nil || done.State != outbox.StateDone || done.Request != nil || done.Finished == nil {
		t.Fatalf("complete: %+v %v (the prompt must be dropped once done)", done, err)
	}
	// Answered once: a second completion of the same claim fails.
	if _, err := o.Complete(ctx, a, outbox.Answer{Content: "again"}); !errors.Is(err, outbox.ErrState) {
		t.Fatalf("second completion: %v, want ErrState", err)
	}
	got, err := o.Get(ctx, ids[0])
	if err != nil || got.Answer == nil || got.Answer.Content != "cloud first" || got.LocalAnswer != "local first" {
		t.Fatalf("get: %+v %v", got, err)
	}

	// A retry puts the item back with a due time; it is skipped until then.
	b, _ := o.Claim(ctx)
	if b.ID != ids[1] {
		t.Fatalf("claimed %s, want %s", b.ID, ids[1])
	}
	if _, err := o.Retry(ctx, b, errors.New("refused"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c, _ := o.Claim(ctx)
	if c == nil || c.ID != ids[2] {
		t.Fatalf("claimed %+v, want the third (the second is not due)", c)
	}
	if n, _ := o.Claim(ctx); n != nil {
		t.Fatalf("claimed %s while nothing is due", n.ID)
	}
	// A stale claim cannot finish an item claimed again.
	if _, err := o.Fail(ctx, c, errors.New("400 bad request")); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Retry(ctx, c, errors.New("x"), time.Now()); !errors.Is(err, outbox.ErrState) {
		t.Fatalf("retry of a failed item: %v", err)
	}
	st, err := o.Stats(ctx)
	if err != nil || st != (outbox.Stats{Queued: 1, Done: 1, Failed: 1}) {
		t.Fatalf("stats %+v %v", st, err)
	}
	if _, err := o.Get(ctx, "dfr_00000000000000000000000000000000"); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

// TestCrashRequeues: an item being sent when the process dies is queued
// again at the next open, and only once completed.
func TestCrashRequeues(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	o, _ := openBox(t, path, nil)
	it, _ := o.Add(ctx, req("q"), "", "offline")
	claimed, _ := o.Claim(ctx)
	if claimed.ID != it.ID {
		t.Fatal("claimed another item")
	}
	_ = o.Close() // the process "dies" between the cloud call and Complete

	o, requeued := openBox(t, path, nil)
	defer func() { _ = o.Close() }()
	if requeued != 1 {
		t.Fatalf("requeued %d, want 1", requeued)
	}
	again, _ := o.Claim(ctx)
	if again == nil || again.ID != it.ID || again.Attempts != 2 || !strings.Contains(again.LastError, "interrupted") {
		t.Fatalf("after restart: %+v", again)
	}
	// The claim from before the crash is stale: it cannot complete.
	if _, err := o.Complete(ctx, claimed, outbox.Answer{Content: "old"}); !errors.Is(err, outbox.ErrState) {
		t.Fatalf("stale completion: %v", err)
	}
	if _, err := o.Complete(ctx, again, outbox.Answer{Content: "new"}); err != nil {
		t.Fatal(err)
	}
	got, _ := o.Get(ctx, it.ID)
	if got.Answer.Content != "new" || got.Attempts != 2 {
		t.Fatalf("final %+v", got)
	}
}

func TestPruneAndLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	o, _ := openBox(t, path, clock)
	defer func() { _ = o.Close() }()
	old, _ := o.Add(ctx, req("old"), "", "")
	c, _ := o.Claim(ctx)
	_, _ = o.Complete(ctx, c, outbox.Answer{Content: "a"})
	queued, _ := o.Add(ctx, req("waiting"), "", "")
	now = now.Add(10 * 24 * time.Hour)
	n, err := o.Prune(ctx, now.Add(-7*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d %v, want 1", n, err)
	}
	if _, err := o.Get(ctx, old.ID); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatal("the old done item survived the prune")
	}
	if _, err := o.Get(ctx, queued.ID); err != nil {
		t.Fatal("a queued item was pruned: queued items are never dropped")
	}
	// A second process cannot open the same outbox.
	if _, _, err := outbox.Open(path, outbox.Options{}); err == nil || !strings.Contains(err.Error(), "locked by another edgecascade process") {
		t.Fatalf("second open: %v", err)
	}
}

func TestValidID(t *testing.T) {
	for s, want := range map[string]bool{
		"dfr_0123456789abcdef0123456789abcdef": true,
		"dfr_0123456789abcdef0123456789abcde":  false,
		"dfr_0123456789abcdef0123456789abcdeg": false,
		"0123456789abcdef0123456789abcdef":     false,
		"":                                     false,
		"dfr_../../etc/passwd":                 false,
	} {
		if got := outbox.ValidID(s); got != want {
			t.Errorf("ValidID(%q) = %v", s, got)
		}
	}
}

// TestBounds: at MaxItems waiting items Add is refused with ErrFull (the
// deferral is refused, nothing is dropped); Expire fails old queued items
// with the reason; finished items leave through Prune.
func TestBounds(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	o, _, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{MaxItems: 2, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = o.Close() }()
	a, _ := o.Add(ctx, req("a"), "", "")
	now = now.Add(time.Hour)
	b, _ := o.Add(ctx, req("b"), "", "")
	if _, err := o.Add(ctx, req("c"), "", ""); !errors.Is(err, outbox.ErrFull) || !strings.Contains(err.Error(), "outbox.max_items 2") {
		t.Fatalf("third add: %v, want ErrFull naming outbox.max_items", err)
	}
	// A claimed item still waits: the cap counts it.
	ca, _ := o.Claim(ctx)
	if _, err := o.Add(ctx, req("c"), "", ""); !errors.Is(err, outbox.ErrFull) {
		t.Fatalf("add while one is sending: %v, want ErrFull", err)
	}
	if _, err := o.Complete(ctx, ca, outbox.Answer{Content: "A"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if _, err := o.Add(ctx, req("c"), "", ""); err != nil {
		t.Fatalf("add after one was answered: %v", err)
	}
	// Only b is older than the cutoff among the queued items.
	expired, err := o.Expire(ctx, now.Add(-time.Minute), "expired: not sent within outbox.max_age")
	if err != nil || len(expired) != 1 || expired[0].ID != b.ID {
		t.Fatalf("expired %+v %v, want only %s", expired, err, b.ID)
	}
	got, _ := o.Get(ctx, b.ID)
	if got.State != outbox.StateFailed || !strings.Contains(got.LastError, "outbox.max_age") || got.Request != nil {
		t.Fatalf("expired item %+v", got)
	}
	if s, _ := o.Stats(ctx); s != (outbox.Stats{Queued: 1, Done: 1, Failed: 1}) {
		t.Fatalf("stats %+v", s)
	}
	if _, err := o.Get(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
}

// TestCountsMatchItems: after a random run of every operation, with
// restarts and crashes between, the kept counts equal a count of the items,
// and Claim always takes the item due first.
func TestCountsMatchItems(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	o, _ := openBox(t, path, clock)
	defer func() { _ = o.Close() }()
	rng := rand.New(rand.NewPCG(1, 2))
	ids := map[string]bool{}
	for step := 0; step < 400; step++ {
		now = now.Add(time.Duration(rng.IntN(120)) * time.Second)
		switch rng.IntN(7) {
		case 0, 1:
			it, err := o.Add(ctx, req("q"), "", "")
			if err != nil {
				t.Fatal(err)
			}
			ids[it.ID] = true
		case 2, 3:
			it, err := o.Claim(ctx)
			if err != nil || it == nil {
				break
			}
			switch rng.IntN(3) {
			case 0:
				_, err = o.Complete(ctx, it, outbox.Answer{Content: "x"})
			case 1:
				_, err = o.Retry(ctx, it, errors.New("later"), now.Add(time.Duration(rng.IntN(600))*time.Second))
			case 2:
				_, err = o.Fail(ctx, it, errors.New("no"))
			}
			if err != nil {
				t.Fatal(err)
			}
		case 4:
			n, err := o.Prune(ctx, now.Add(-30*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			_ = n
		case 5:
			if _, err := o.Expire(ctx, now.Add(-2*time.Hour), "expired"); err != nil {
				t.Fatal(err)
			}
		case 6:
			_, _ = o.Claim(ctx) // maybe left sending: a crash
			_ = o.Close()
			o, _ = openBox(t, path, clock)
		}
		want := outbox.Stats{}
		for id := range ids {
			it, err := o.Get(ctx, id)
			if errors.Is(err, outbox.ErrNotFound) {
				delete(ids, id)
				continue
			}
			switch it.State {
			case outbox.StateQueued:
				want.Queued++
			case outbox.StateSending:
				want.Sending++
			case outbox.StateDone:
				want.Done++
			case outbox.StateFailed:
				want.Failed++
			}
		}
		if got, _ := o.Stats(ctx); got != want {
			t.Fatalf("step %d: stats %+v, items say %+v", step, got, want)
		}
	}
}

// TestClaimDueFirst: Claim takes the item due first, not the oldest one
// that is not due yet.
func TestClaimDueFirst(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	o, _ := openBox(t, filepath.Join(t.TempDir(), "outbox.db"), func() time.Time { return now })
	defer func() { _ = o.Close() }()
	first, _ := o.Add(ctx, req("first"), "", "")
	now = now.Add(time.Second)
	second, _ := o.Add(ctx, req("second"), "", "")
	c, _ := o.Claim(ctx)
	if c.ID != first.ID {
		t.Fatalf("claimed %s, want the oldest %s", c.ID, first.ID)
	}
	if _, err := o.Retry(ctx, c, errors.New("429"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if c, _ = o.Claim(ctx); c == nil || c.ID != second.ID {
		t.Fatalf("claimed %+v, want %s (the first is not due)", c, second.ID)
	}
	if c, _ = o.Claim(ctx); c != nil {
		t.Fatalf("claimed %s before it was due", c.ID)
	}
	now = now.Add(time.Minute)
	if c, _ = o.Claim(ctx); c == nil || c.ID != first.ID {
		t.Fatalf("claimed %+v once due, want %s", c, first.ID)
	}
}
