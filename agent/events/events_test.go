package events

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

// ids returns the ids of evs.
func ids(evs []Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

func id(n uint64) string { return strconv.FormatUint(n, 10) }

// drain reads what is already in ch.
func drain(ch <-chan Event) []Event {
	var out []Event
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}

// TestEventIDs: ids are the epoch (the broker's start, Unix microseconds)
// plus a sequence: increasing and unique, and those of a broker started
// later (a restarted daemon) are above every id of the earlier one.
func TestEventIDs(t *testing.T) {
	before := uint64(time.Now().UnixMicro())
	a := NewBroker()
	if a.Epoch() < before || a.Epoch() > uint64(time.Now().UnixMicro()) {
		t.Fatalf("epoch %d is not the start time in Unix microseconds (%d)", a.Epoch(), before)
	}
	ch, cancel := a.Subscribe()
	defer cancel()
	for i := range 10 {
		a.Publish(Deferred, i)
	}
	got := drain(ch)
	seen := map[uint64]bool{}
	var last uint64
	for i, ev := range got {
		if ev.ID != a.Epoch()+uint64(i)+1 || ev.ID <= last || seen[ev.ID] {
			t.Fatalf("ids %v, want %d+1, +2, …", ids(got), a.Epoch())
		}
		seen[ev.ID], last = true, ev.ID
	}
	// A restart takes well over a microsecond per event published.
	time.Sleep(time.Millisecond)
	b := NewBroker()
	if b.Epoch() <= last {
		t.Fatalf("restarted epoch %d, not above the last id %d", b.Epoch(), last)
	}
	chb, cancelb := b.Subscribe()
	defer cancelb()
	b.Publish(Deferred, 0)
	if evs := drain(chb); len(evs) != 1 || evs[0].ID <= last || seen[evs[0].ID] {
		t.Fatalf("after a restart ids %v, want above %d", ids(evs), last)
	}
	// An id of the earlier process is before this one: events may have
	// been missed.
	s := b.SubscribeAfter(id(last))
	defer s.Cancel()
	if !s.Gap || len(s.Replay) != 1 || s.From != b.Epoch() || s.Epoch != b.Epoch() {
		t.Fatalf("resume after a restart: gap %v, replay %v, from %d (epoch %d)", s.Gap, ids(s.Replay), s.From, b.Epoch())
	}
}

// TestEventReplay: a subscriber that gives the last id it saw gets every
// buffered event after it, in order, then the live ones; an id the buffer
// no longer reaches (or a foreign or unreadable one) gets Gap and the
// whole buffer.
func TestEventReplay(t *testing.T) {
	b := NewBroker()
	e := b.Epoch()
	fresh := b.SubscribeAfter("")
	defer fresh.Cancel()
	if fresh.Gap || len(fresh.Replay) != 0 || fresh.From != e {
		t.Fatalf("fresh subscription before any event: %+v", fresh)
	}
	all := []uint64{1, 2, 3, 4, 5}
	tests := []struct {
		name   string
		last   func(e uint64) string // the client's last id, for epoch e
		gap    bool
		replay []uint64 // ids - epoch
		from   uint64   // - epoch
	}{
		{"fresh", func(uint64) string { return "" }, false, nil, 5},
		{"from the start", func(e uint64) string { return id(e) }, false, all, 0},
		{"missed two", func(e uint64) string { return id(e + 3) }, false, []uint64{4, 5}, 3},
		{"up to date", func(e uint64) string { return id(e + 5) }, false, nil, 5},
		{"before the epoch", func(e uint64) string { return id(e - 1) }, true, all, 0},
		{"from the future", func(e uint64) string { return id(e + 6) }, true, all, 0},
		{"unreadable", func(uint64) string { return "abc" }, true, all, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBroker()
			e := b.Epoch()
			for i := range 5 {
				b.Publish(Deferred, i)
			}
			s := b.SubscribeAfter(tt.last(e))
			defer s.Cancel()
			if s.Gap != tt.gap || s.From != e+tt.from || s.Epoch != e || len(s.Replay) != len(tt.replay) {
				t.Fatalf("gap %v from %d replay %v, want gap %v from %d replay %v (epoch %d)", s.Gap, s.From, ids(s.Replay), tt.gap, e+tt.from, tt.replay, e)
			}
			for i, want := range tt.replay {
				if s.Replay[i].ID != e+want || s.Replay[i].Data != int(want-1) {
					t.Fatalf("replay %v, want %v (epoch %d)", ids(s.Replay), tt.replay, e)
				}
			}
			b.Publish(DeferredDone, "live")
			if live := drain(s.C); len(live) != 1 || live[0].Type != DeferredDone || live[0].ID != e+6 {
				t.Fatalf("live after the replay: %v", live)
			}
		})
	}
	// Outrun: far more events than the buffer holds.
	b = NewBroker()
	e = b.Epoch()
	for i := range ReplaySize + 10 {
		b.Publish(Deferred, i)
	}
	last := e + ReplaySize + 10
	for _, tt := range []struct {
		last string
		gap  bool
		n    int
	}{
		{id(e + 5), true, ReplaySize},
		{id(e + 9), true, ReplaySize},
		{id(e + 10), false, ReplaySize}, // the oldest buffered is e+11
		{id(e + 11), false, ReplaySize - 1},
	} {
		s := b.SubscribeAfter(tt.last)
		s.Cancel()
		if s.Gap != tt.gap || len(s.Replay) != tt.n || s.Replay[len(s.Replay)-1].ID != last || s.From != last-uint64(tt.n) {
			t.Fatalf("after %s of %d: gap %v, %d replayed from %d, want gap %v, %d", tt.last, last, s.Gap, len(s.Replay), s.From, tt.gap, tt.n)
		}
	}
}

// TestEventOverflow: a live subscriber that falls behind by more than its
// buffer is dropped after what it was sent; it resumes from the last id it
// read without losing any.
func TestEventOverflow(t *testing.T) {
	b := NewBroker()
	ch, cancel := b.Subscribe()
	defer cancel()
	for i := range subscriberBuf + 5 {
		b.Publish(Deferred, i)
	}
	got := drain(ch)
	if len(got) != subscriberBuf {
		t.Fatalf("got %d events before the drop, want %d", len(got), subscriberBuf)
	}
	if _, ok := <-ch; ok {
		t.Fatal("the slow subscriber was not dropped")
	}
	s := b.SubscribeAfter(id(got[len(got)-1].ID))
	defer s.Cancel()
	if s.Gap || len(s.Replay) != 5 || s.Replay[0].ID != got[len(got)-1].ID+1 {
		t.Fatalf("resume after overflow: gap %v replay %v", s.Gap, ids(s.Replay))
	}
}

// TestEventResumeWhilePublishing: subscribers that resume while events are
// published get each event exactly once, in order, between replay and live
// (run with -race).
func TestEventResumeWhilePublishing(t *testing.T) {
	b := NewBroker()
	const publishers, each = 4, 60 // fewer than ReplaySize: a resume never outruns the buffer
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				b.Publish(Deferred, p*each+i)
			}
		})
	}
	total := uint64(publishers * each)
	e := b.Epoch()
	errs := make(chan string, 16)
	for range 8 {
		wg.Go(func() {
			// Read live a little, drop off, resume from the last id seen,
			// repeatedly, until every event was seen.
			var last uint64 = e
			s := b.SubscribeAfter(id(last))
			for last < e+total {
				if s.Gap {
					errs <- "gap on resume"
					return
				}
				for _, ev := range s.Replay {
					if ev.ID != last+1 {
						errs <- "replay out of order: got " + id(ev.ID) + " after " + id(last)
						return
					}
					last = ev.ID
				}
				n := 0
			live:
				for n < 7 && last < e+total {
					select {
					case ev, ok := <-s.C:
						if !ok {
							break live // dropped: too slow
						}
						if ev.ID != last+1 {
							errs <- "live out of order: got " + id(ev.ID) + " after " + id(last)
							return
						}
						last = ev.ID
						n++
					case <-time.After(10 * time.Second):
						errs <- "stalled at " + id(last)
						return
					}
				}
				s.Cancel()
				s = b.SubscribeAfter(id(last))
			}
			s.Cancel()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
