package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"github.com/edgecascade/edgecascade/agent/cascade"
	"net"
	"net/http"
	"strings"
)

// The guard in front of every route: the Host check (DNS rebinding), CORS
// and the bearer token, in that order. A loopback daemon is reachable by
// every web page the user opens: a page cannot read cross-origin answers
// without CORS, but it can send "simple" requests blind, and through DNS
// rebinding (a name of the attacker's that turns into 127.0.0.1) it can
// become same-origin. So requests that carry an Origin header must come from
// an allowed origin, and on loopback the Host header must name loopback.

// corsMethods and corsHeaders are what a preflight allows.
const (
	corsMethods = "GET, POST, OPTIONS"
	corsHeaders = "Authorization, Content-Type, X-Cascade-Policy, X-Cascade-Defer, Last-Event-ID"
	corsExpose  = "X-Cascade-Route, X-Cascade-Confidence"
)

// PolicyHeader names the routing policy of a request; it overrides the
// body's model when that is auto (see policyFromHeader).
const PolicyHeader = "X-Cascade-Policy"

// guard wraps next with the Host check, CORS and the bearer token. Requests
// for which page is true (the dashboard's files, Route.Page) skip the token
// only. A same-origin request (the dashboard's own calls: its Origin names
// the Host it was sent to) passes the Origin check when the Host check or
// the token rules out DNS rebinding: on a non-loopback daemon without a
// token, the dashboard's origin must be listed in server.cors_origins.
func (s *Server) guard(next http.Handler, page func(*http.Request) bool) http.Handler {
	origins := make(map[string]bool, len(s.cfg.CORSOrigins))
	for _, o := range s.cfg.CORSOrigins {
		origins[o] = true
	}
	hosts := map[string]bool{"localhost": true}
	for _, h := range s.cfg.AllowedHosts {
		hosts[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	var want [sha256.Size]byte
	token := s.cfg.AuthToken.Reveal()
	if token != "" {
		want = sha256.Sum256([]byte(token))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		if s.cfg.CheckHost && !hostAllowed(r.Host, hosts) {
			s.deny(w, r, http.StatusForbidden, "host_not_allowed",
				fmt.Sprintf("host %q is not a loopback name: add it to server.allowed_hosts to accept it", r.Host))
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !(sameOrigin(r, origin) && (s.cfg.CheckHost || token != "")) {
			if !origins[origin] {
				s.deny(w, r, http.StatusForbidden, "origin_not_allowed",
					fmt.Sprintf("origin %q is not allowed: add it to server.cors_origins to accept it", origin))
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", corsMethods)
				h.Set("Access-Control-Allow-Headers", corsHeaders)
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			h.Set("Access-Control-Expose-Headers", corsExpose)
		}
		if token != "" && !page(r) {
			got, ok := bearer(r.Header.Get("Authorization"))
			gotSum := sha256.Sum256([]byte(got)) // equal lengths: the compare leaks nothing
			if !ok || subtle.ConstantTimeCompare(gotSum[:], want[:]) != 1 {
				h.Set("WWW-Authenticate", `Bearer realm="edgecascade"`)
				s.deny(w, r, http.StatusUnauthorized, "invalid_api_key",
					"missing or wrong bearer token: send Authorization: Bearer <server.auth_token>")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin reports whether origin is the origin of the request's own
// URL (scheme, Host): a page the daemon served calling it back.
func sameOrigin(r *http.Request, origin string) bool {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return r.Host != "" && strings.EqualFold(origin, scheme+"://"+r.Host)
}

// bearer returns the token of an "Authorization: Bearer <token>" value.
func bearer(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// hostAllowed reports whether the Host header names a loopback IP, localhost
// or one of hosts.
func hostAllowed(hostport string, hosts map[string]bool) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(host, "]"), "["), ".")
	if host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback() || hosts[ip.String()]
	}
	return hosts[strings.ToLower(host)]
}

// deny answers a refused request in the error shape of its API: Ollama's
// {"error": "..."} under /api/, OpenAI's elsewhere.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	noteError(r.Context(), fmt.Errorf("%s: %s", code, msg))
	if ollamaPath(r.URL.Path) {
		s.writeJSON(w, r, status, map[string]string{"error": msg})
		return
	}
	s.writeJSON(w, r, status, apiError{Error: apiErrorBody{Message: msg, Type: "invalid_request_error", Code: code}})
}

// policyFromHeader combines the body's policy with the X-Cascade-Policy
// header. The header decides when the body says auto; header local always
// wins (keeping data on the device is the safe direction, so a proxy can
// enforce it); a header that would send a body's local request off the
// device, or any other disagreement, is a 400 rather than a silent choice.
func policyFromHeader(h http.Header, body cascade.Policy) (cascade.Policy, error) {
	v := strings.TrimSpace(h.Get(PolicyHeader))
	if v == "" {
		return body, nil
	}
	hp, err := cascade.ParsePolicy(strings.ToLower(v))
	if err != nil {
		return "", &BadRequestError{Msg: fmt.Sprintf("header %s: want auto, local or cloud, got %q", PolicyHeader, v), Param: PolicyHeader}
	}
	switch {
	case hp == body, hp == cascade.PolicyLocal, body == cascade.PolicyAuto:
		return hp, nil
	default:
		return "", &BadRequestError{Msg: fmt.Sprintf("header %s: %s conflicts with model %q", PolicyHeader, hp, body), Param: PolicyHeader}
	}
}

// LoopbackListen reports whether the listen address addr (host:port) binds
// only loopback addresses: an empty host, 0.0.0.0 and :: bind every
// interface; a host name counts as loopback only when every address it
// resolves to is.
func LoopbackListen(ctx context.Context, addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "" {
		return false, nil
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil {
		return ip.IsLoopback(), nil
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return false, fmt.Errorf("resolve listen host %q: %w", host, err)
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return false, nil
		}
	}
	return len(ips) > 0, nil
}
