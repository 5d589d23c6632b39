package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/agent/httpapi"
	"github.com/edgecascade/edgecascade/configs/secret"
)

// routePath is a request path that the route's pattern matches.
func routePath(pattern string) string {
	switch {
	case pattern == "/":
		return "/no/such/route"
	case pattern == "/{$}":
		return "/"
	case strings.HasSuffix(pattern, "/"):
		return pattern // a subtree: its root
	}
	return strings.NewReplacer("{id}", "dfr_00000000000000000000000000000000", "{file}", "app.js").Replace(pattern)
}

// TestGuardEveryRoute walks the route table (with the profiles on) through
// the served handler: every route, the catch-all included, refuses a
// missing or wrong token (401), a foreign Host (403) and a foreign Origin
// (403) before its handler runs, in its API's error shape. The dashboard's
// files (Route.Page: they hold no data, and a browser loads them before the
// user can enter a token) skip the token only: they answer without it, with
// their Content-Security-Policy, and still refuse a foreign Host or Origin.
// Handler serves
// the table and nothing else (TestRoutesOnlyFromTable), so a route added
// anywhere is walked here.
func TestGuardEveryRoute(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, server: func(c *httpapi.ServerConfig) {
		c.AuthToken = secret.Secret(testToken)
		c.CORSOrigins = []string{"https://app.example"}
		c.CheckHost = true
		c.Pprof = true
	}})
	port := d.URL[strings.LastIndex(d.URL, ":"):]
	routes := d.api.Routes()
	var pprof, catchAll bool
	for _, rt := range routes {
		pprof = pprof || strings.HasPrefix(rt.Pattern, "/debug/pprof/")
		catchAll = catchAll || rt.Pattern == "/"
	}
	if !pprof || !catchAll || len(routes) < 15 {
		t.Fatalf("the route table lacks the profiles (%v) or the catch-all (%v): %d routes", pprof, catchAll, len(routes))
	}
	good := "Bearer " + testToken
	for _, rt := range routes {
		method := rt.Method
		if method == "" {
			method = http.MethodGet
		}
		path := routePath(rt.Pattern)
		page := rt.Page != nil && rt.Page(httptest.NewRequest(method, path, nil))
		for _, tc := range []struct {
			name               string
			auth, host, origin string
			status             int
			code               string
		}{
			{"no token", "", "", "", http.StatusUnauthorized, "invalid_api_key"},
			{"wrong token", good + "x", "", "", http.StatusUnauthorized, "invalid_api_key"},
			{"foreign host", good, "evil.example" + port, "", http.StatusForbidden, "host_not_allowed"},
			{"foreign host, no token", "", "evil.example" + port, "", http.StatusForbidden, "host_not_allowed"},
			{"foreign origin", good, "", "https://evil.example", http.StatusForbidden, "origin_not_allowed"},
		} {
			t.Run(method+" "+rt.Pattern+"/"+tc.name, func(t *testing.T) {
				hdr := map[string]string{}
				if tc.auth != "" {
					hdr["Authorization"] = tc.auth
				}
				if tc.origin != "" {
					hdr["Origin"] = tc.origin
				}
				resp, raw := send(t, method, d.URL+path, tc.host, hdr, "")
				if page && tc.status == http.StatusUnauthorized {
					if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") == "" {
						t.Fatalf("dashboard file %s without the token: %d, CSP %q", path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
					}
					return
				}
				if resp.StatusCode != tc.status {
					t.Fatalf("%s %s: status %d, want %d: %.200s", method, path, resp.StatusCode, tc.status, raw)
				}
				if code := errorShape(t, path, raw); !strings.HasPrefix(path, "/api/") && code != tc.code {
					t.Fatalf("code %q, want %q", code, tc.code)
				}
			})
		}
	}
	// With the token, the profiles answer (behind the guard, not instead of it).
	resp, raw := send(t, "GET", d.URL+"/debug/pprof/cmdline", "", map[string]string{"Authorization": good}, "")
	if resp.StatusCode != http.StatusOK || len(raw) == 0 {
		t.Fatalf("profiles with the token: %d %.200s", resp.StatusCode, raw)
	}
	if n := d.cloudCalls(); n != 0 {
		t.Fatalf("refused requests reached the cloud %d times", n)
	}
}

// TestPprofOff: without ServerConfig.Pprof the profiles are not in the
// table and not served.
func TestPprofOff(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5})
	for _, rt := range d.api.Routes() {
		if strings.HasPrefix(rt.Pattern, "/debug/") {
			t.Fatalf("route %s %s without Pprof", rt.Method, rt.Pattern)
		}
	}
	if resp, raw := send(t, "GET", d.URL+"/debug/pprof/heap", "", nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("profiles without Pprof: %d %.200s", resp.StatusCode, raw)
	}
}
