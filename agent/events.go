package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Event is one server-sent event on /v1/cascade/events.
type Event struct {
	Seq  uint64
	Type string
	Data any
}

// Event types.
const (
	EventDeferred      = "deferred.queued" // a request was deferred
	EventDeferredDone  = "deferred.done"   // its cloud answer is ready
	EventDeferredFail  = "deferred.failed" // the cloud refused it for good
	EventCloudState    = "cloud.state"     // reachability changed
	eventSubscriberBuf = 64
)

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
	ch := make(chan Event, eventSubscriberBuf)
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

// handleEvents streams events as SSE until the client leaves.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Events == nil {
		writeJSON(w, http.StatusNotFound, apiError{Error: apiErrorBody{Message: "events are off: the outbox is not configured", Type: "invalid_request_error", Code: "not_found"}})
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, fmt.Errorf("streaming unsupported by the connection"))
		return
	}
	ch, cancel := s.cfg.Events.Subscribe()
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	// A first comment tells the client the subscription is live.
	if _, err := fmt.Fprint(w, ": subscribed\n\n"); err != nil {
		return
	}
	flusher.Flush()
	keepalive := time.NewTicker(s.cfg.EventsKeepalive)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
			flusher.Flush()
		case ev, ok := <-ch:
			if !ok {
				_, _ = fmt.Fprint(w, "event: overflow\ndata: {\"message\":\"too slow: events were dropped; reconnect and read /v1/cascade/deferred/{id}\"}\n\n")
				flusher.Flush()
				return
			}
			b, err := json.Marshal(ev.Data)
			if err != nil {
				s.log.Error("encode event", "err", err)
				continue
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Type, b); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}
