package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/edgecascade/edgecascade/agent/events"
)

// readyEvent opens every events stream: the broker's epoch and the id the
// stream continues from (also the event's SSE id, so that a client that
// hears nothing else still resumes from there).
type readyEvent struct {
	Epoch       uint64 `json:"epoch"`
	LastEventID uint64 `json:"last_event_id"`
}

// gapEvent says that events after the client's Last-Event-ID may be lost.
type gapEvent struct {
	Message     string `json:"message"`
	LastEventID string `json:"last_event_id"`
	Epoch       uint64 `json:"epoch"`
}

// handleEvents streams events as SSE until the client leaves. A client
// that sends Last-Event-ID (or the last_event_id query parameter) first
// gets the buffered events after it; if the buffer no longer reaches back
// that far, an event: gap precedes them.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Events == nil {
		s.notFound(w, r, "events are off: the outbox is not configured")
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, fmt.Errorf("streaming unsupported by the connection"))
		return
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("last_event_id")
	}
	sub := s.cfg.Events.SubscribeAfter(lastID)
	defer sub.Cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	// A first comment tells the client the subscription is live.
	if _, err := fmt.Fprintf(w, ": subscribed epoch=%d\n\n", sub.Epoch); err != nil {
		return
	}
	if !s.writeEvent(w, sub.From, "ready", readyEvent{Epoch: sub.Epoch, LastEventID: sub.From}) {
		return
	}
	if sub.Gap {
		msg := fmt.Sprintf("events after Last-Event-ID %q may have been missed (the daemon restarted, or more than %d events were published meanwhile): re-read the items you wait for from GET /v1/cascade/deferred/{id} (counts: GET /v1/cascade/deferred); the buffered events follow", lastID, events.ReplaySize)
		if !s.writeEvent(w, 0, "gap", gapEvent{Message: msg, LastEventID: lastID, Epoch: sub.Epoch}) {
			return
		}
	}
	for _, ev := range sub.Replay {
		if !s.writeEvent(w, ev.ID, ev.Type, ev.Data) {
			return
		}
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
		case ev, ok := <-sub.C:
			if !ok {
				_, _ = fmt.Fprint(w, "event: overflow\ndata: {\"message\":\"too slow: events were dropped; reconnect with Last-Event-ID to get the rest\"}\n\n")
				flusher.Flush()
				return
			}
			if !s.writeEvent(w, ev.ID, ev.Type, ev.Data) {
				return
			}
			flusher.Flush()
		}
	}
}

// writeEvent writes one event (without an id line when id is 0) and
// reports whether the stream may go on. An event that does not encode is
// logged and skipped.
func (s *Server) writeEvent(w http.ResponseWriter, id uint64, typ string, data any) bool {
	b, err := json.Marshal(data)
	if err != nil {
		s.log.Error("encode event", "type", typ, "err", err)
		return true
	}
	if id != 0 {
		if _, err := fmt.Fprintf(w, "id: %d\n", id); err != nil {
			return false
		}
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, b)
	return err == nil
}
