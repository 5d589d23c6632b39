package ui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestServe: the page and its files with their content type and security
// headers; anything else (other names, paths, dot files) is not served.
func TestServe(t *testing.T) {
	for _, tc := range []struct {
		name, method string
		ok           bool
		ctype        string
	}{
		{"", "GET", true, "text/html"},
		{"index.html", "GET", true, "text/html"},
		{"app.js", "GET", true, "text/javascript"},
		{"app.css", "HEAD", true, "text/css"},
		{"icon.svg", "GET", true, "image/svg+xml"},
		{"nosuch.js", "GET", false, ""},
		{"../ui.go", "GET", false, ""},
		{"static/app.js", "GET", false, ""},
		{".hidden", "GET", false, ""},
	} {
		w := httptest.NewRecorder()
		ok := Serve(w, httptest.NewRequest(tc.method, "/ui/x", nil), tc.name)
		if ok != tc.ok {
			t.Fatalf("%q: served %v, want %v", tc.name, ok, tc.ok)
		}
		if !ok {
			if w.Body.Len() != 0 || len(w.Header()) != 0 {
				t.Fatalf("%q: wrote %d bytes, headers %v", tc.name, w.Body.Len(), w.Header())
			}
			continue
		}
		h := w.Header()
		if w.Code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), tc.ctype) || h.Get("Content-Security-Policy") != CSP ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
			t.Fatalf("%q: %d %v", tc.name, w.Code, h)
		}
		if (tc.method == "HEAD") != (w.Body.Len() == 0) {
			t.Fatalf("%q %s: body of %d bytes", tc.name, tc.method, w.Body.Len())
		}
	}
}

// TestNoInlineCode: the page holds no inline script, style or event
// handler attribute, which the CSP would block, and no external URL; the
// script writes text, never HTML (the daemon's answers and reasons go
// through textContent), evaluates no strings and names no URL but SVG's
// namespace.
func TestNoInlineCode(t *testing.T) {
	b, err := files.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	page := strings.ToLower(string(b))
	for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onload=", " onsubmit=", "javascript:", "http://", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
	js, err := files.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", `setAttribute("style"`, "http://", "https://"} {
		if strings.Contains(strings.ReplaceAll(string(js), `"http://www.w3.org/2000/svg"`, ""), bad) {
			t.Errorf("app.js contains %q", bad)
		}
	}
}
