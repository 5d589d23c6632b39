package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// handleEvents streams events as SSE until the client leaves.
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
