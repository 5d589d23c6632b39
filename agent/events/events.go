// Package events fans the daemon's events (deferred items, the cloud's
// reachability) out to subscribers and keeps the last ones for replay;
// agent/httpapi serves them as /v1/cascade/events.
//
// # Event ids
//
// An event's id is the broker's epoch plus a sequence number: the epoch is
// the time the broker was made (the daemon's start) in Unix microseconds,
// the first event is epoch+1, the next epoch+2, and so on. Ids are
// therefore unique and increasing within a process, and the ids of a
// restarted daemon are above every id of the previous one as long as it
// published fewer than one event per microsecond on average and the system
// clock did not go back across the restart. They stay below 2^53, so a
// JavaScript client can hold them as numbers. An id below the epoch comes
// from an earlier process; one above the last event from none this broker
// knows.
package events

import (
	"strconv"
	"sync"
	"time"
)

// Event is one event (a server-sent event on /v1/cascade/events).
type Event struct {
	ID   uint64 // epoch + sequence: see the package documentation
	Type string
	Data any
}

// Event types.
const (
	Deferred       = "deferred.queued" // a request was deferred
	DeferredDone   = "deferred.done"   // its cloud answer is ready
	DeferredFailed = "deferred.failed" // the cloud refused it for good
	CloudState     = "cloud.state"     // reachability changed
	Decision       = "decision"        // a request was answered (its decision log entry)
	AdaptDrift     = "adapt.drift"     // the bound on accepted accuracy crossed the target
)

// subscriberBuf is how many events a live subscriber may fall behind.
const subscriberBuf = 64

// ReplaySize is how many of the last events the broker keeps for
// subscribers that resume after a disconnection.
const ReplaySize = 256

// Broker fans events out to subscribers and keeps the last ReplaySize for
// replay. A subscriber that falls behind by more than its buffer is dropped
// (its channel closed after the events it was sent) rather than silently
// missing events: the client resumes with SubscribeAfter from the last id
// it read.
type Broker struct {
	epoch uint64

	mu    sync.Mutex
	last  uint64  // id of the last event published; epoch before the first
	ring  []Event // the last events, oldest at start
	start int
	subs  map[chan Event]struct{}
}

// NewBroker returns a broker with no subscribers whose epoch is now.
func NewBroker() *Broker {
	e := uint64(time.Now().UnixMicro())
	return &Broker{epoch: e, last: e, ring: make([]Event, 0, ReplaySize), subs: map[chan Event]struct{}{}}
}

// Epoch is the broker's epoch: its start in Unix microseconds, the id
// before its first event.
func (b *Broker) Epoch() uint64 { return b.epoch }

// Subscribe returns a channel of the events published from now on and a
// function that ends the subscription.
func (b *Broker) Subscribe() (<-chan Event, func()) {
	s := b.SubscribeAfter("")
	return s.C, s.Cancel
}

// Subscription is a subscription made by SubscribeAfter: the buffered
// events after the client's last id, then the live ones on C.
type Subscription struct {
	Epoch uint64 // the broker's epoch
	// From is the id the subscription continues from: Replay and C
	// hold the events after it, each once, in order.
	From uint64
	// Gap is set when events after the client's last id may be lost: the
	// id is older than the oldest buffered event, from another process
	// (before the epoch, or after the last event) or unreadable. Replay
	// then holds the whole buffer.
	Gap    bool
	Replay []Event
	C      <-chan Event // closed when the subscriber falls behind
	Cancel func()       // ends the subscription
}

// SubscribeAfter subscribes a client whose last event had the id lastID
// (as sent in a Last-Event-ID header): the events after it that are still
// buffered are in Replay, those published later arrive on C. With lastID
// empty the subscription is live only. Snapshot and subscription are taken
// under one lock, so no event is lost or repeated between them.
func (b *Broker) SubscribeAfter(lastID string) *Subscription {
	ch := make(chan Event, subscriberBuf)
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &Subscription{Epoch: b.epoch, From: b.last, C: ch}
	if lastID != "" {
		oldest := b.last - uint64(len(b.ring)) // the id before the oldest buffered
		id, err := strconv.ParseUint(lastID, 10, 64)
		if err != nil || id < oldest || id > b.last {
			s.Gap, id = true, oldest
		}
		s.From = id
		s.Replay = make([]Event, 0, b.last-id)
		for i := len(b.ring) - int(b.last-id); i < len(b.ring); i++ {
			s.Replay = append(s.Replay, b.ring[(b.start+i)%len(b.ring)])
		}
	}
	b.subs[ch] = struct{}{}
	s.Cancel = func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
	}
	return s
}

// Publish sends an event to every subscriber and keeps it for replay.
func (b *Broker) Publish(typ string, data any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last++
	ev := Event{ID: b.last, Type: typ, Data: data}
	if len(b.ring) < ReplaySize {
		b.ring = append(b.ring, ev)
	} else {
		b.ring[b.start] = ev
		b.start = (b.start + 1) % ReplaySize
	}
	for ch := range b.subs {
		select {
		case ch <- ev:
		default:
			delete(b.subs, ch)
			close(ch)
		}
	}
}
