package httpapi

import (
	"net/http"

	"github.com/edgecascade/edgecascade/agent/ui"
)

// The dashboard (agent/ui): GET /ui and /ui/{file}, and / for browsers.
// Its files pass the guard without the token (Route.Page): they hold no
// data; every call the page makes carries the token.

// always is the Page predicate of the dashboard's own routes.
func always(*http.Request) bool { return true }

func (s *Server) handleUI(w http.ResponseWriter, r *http.Request) {
	if !ui.Serve(w, r, r.PathValue("file")) {
		s.notFound(w, r, "no such file of the dashboard: "+r.URL.Path)
	}
}

// serveBrowserRoot answers a browser at / with the dashboard.
func (s *Server) serveBrowserRoot(w http.ResponseWriter, r *http.Request) { ui.Serve(w, r, "") }
