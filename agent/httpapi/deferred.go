package httpapi

import (
	"errors"
	"net/http"

	"github.com/edgecascade/edgecascade/agent/outbox"
)

func (s *Server) notFound(w http.ResponseWriter, r *http.Request, msg string) {
	s.writeJSON(w, r, http.StatusNotFound, apiError{Error: apiErrorBody{Message: msg, Type: "invalid_request_error", Code: "not_found"}})
}

// handleDeferred returns one deferred item: its state and, when done, the
// cloud's answer.
func (s *Server) handleDeferred(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Deferrals == nil {
		s.notFound(w, r, "deferral is off: the outbox is not configured")
		return
	}
	id := r.PathValue("id")
	if !outbox.ValidID(id) {
		s.writeError(w, r, &BadRequestError{Msg: "not a deferred item ID (dfr_ and 32 hex digits): " + truncate(id, 80), Param: "id"})
		return
	}
	it, err := s.cfg.Deferrals.Get(r.Context(), id)
	if errors.Is(err, outbox.ErrNotFound) {
		s.notFound(w, r, "no deferred item "+id+" (unknown, or pruned after the retention period)")
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, outbox.ItemView(it))
}

// handleDeferredStats counts deferred items by state.
func (s *Server) handleDeferredStats(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Deferrals == nil {
		s.notFound(w, r, "deferral is off: the outbox is not configured")
		return
	}
	st, err := s.cfg.Deferrals.Stats(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{"object": "cascade.deferred.stats", "counts": st})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
