// Package ui is the daemon's dashboard: one page, its script and its style
// sheet, embedded in the binary and served by agent/httpapi at /ui (and at
// / to browsers). The files hold no data: the page asks the API for
// everything (/healthz, /v1/cascade/summary, /v1/cascade/events, …) with
// the bearer token the user enters once (kept in the tab's sessionStorage,
// never in a URL). No external assets, no build step: plain HTML, CSS and
// JavaScript, the charts drawn as SVG by the script.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// CSP is the Content-Security-Policy of every file: scripts and styles from
// the daemon only (no inline script or style), API calls to the daemon
// only, no frames, no forms posted anywhere.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// types are the content types of the files served.
var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// Serve writes the file name ("" for the page) with the security headers
// and reports whether it exists.
func Serve(w http.ResponseWriter, r *http.Request, name string) bool {
	if name == "" {
		name = "index.html"
	}
	if strings.Contains(name, "/") || strings.HasPrefix(name, ".") {
		return false
	}
	b, err := fs.ReadFile(files, "static/"+name)
	if err != nil {
		return false
	}
	ct, ok := types[path.Ext(name)]
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
	return true
}

// Files lists the embedded files (for tests).
func Files() []string {
	ents, _ := fs.ReadDir(files, "static")
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
