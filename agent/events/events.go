// Package events fans the daemon's events (deferred items, the cloud's
// reachability) out to subscribers; agent/httpapi serves them as
// /v1/cascade/events.
package events

import "sync"

// Event is one event (a server-sent event on /v1/cascade/events).
type Event struct {
	Seq  uint64
	Type string
	Data any
}

// Event types.
const (
	Deferred       = "deferred.queued" // a request was deferred
	DeferredDone   = "deferred.done"   // its cloud answer is ready
	DeferredFailed = "deferred.failed" // the cloud refused it for good
	CloudState     = "cloud.state"     // reachability changed
)

// subscriberBuf is how many events a subscriber may fall behind.
const subscriberBuf = 64

// Broker fans events out to subscribers. A subscriber that falls behind
// by more than its buffer is dropped (its channel closed) rather than
// silently missing events: the client reconnects and reads the state from
// /v1/cascade/deferred/{id}.
type Broker struct {
	mu   sync.Mutex
	seq  uint64
	subs map[chan Event]struct{}
}

// NewBroker returns a broker with no subscribers.
func NewBroker() *Broker { return &Broker{subs: map[chan Event]struct{}{}} }

// Subscribe returns a channel of events and a function that ends the
// subscription.
func (b *Broker) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, subscriberBuf)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
	}
}

// Publish sends an event to every subscriber.
func (b *Broker) Publish(typ string, data any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	ev := Event{Seq: b.seq, Type: typ, Data: data}
	for ch := range b.subs {
		select {
		case ch <- ev:
		default:
			delete(b.subs, ch)
			close(ch)
		}
	}
}
