package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/edgecascade/edgecascade/agent/httpapi"
	"github.com/edgecascade/edgecascade/configs/secret"
)

const testToken = "tok-0123456789abcdef"

// send makes one request with the given Host (empty: the URL's) and headers.
func send(t *testing.T, method, url, host string, hdr map[string]string, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

// errorShape checks an error body: Ollama's {"error": "..."} under /api/,
// OpenAI's {"error": {"message", "type", "code"}} elsewhere; it returns the
// OpenAI code ("" for Ollama).
func errorShape(t *testing.T, path string, raw []byte) string {
	t.Helper()
	if strings.HasPrefix(path, "/api/") {
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.Error == "" {
			t.Fatalf("not the Ollama error shape: %s", raw)
		}
		return ""
	}
	var e struct {
		Error struct{ Message, Type, Code string } `json:"error"`
	}
	if err := json.Unmarshal(raw, &e); err != nil || e.Error.Message == "" || e.Error.Type == "" || e.Error.Code == "" {
		t.Fatalf("not the OpenAI error shape: %s", raw)
	}
	return e.Error.Code
}

// TestGuard: the bearer token on every route (including /healthz and
// /metrics), the CORS allowlist with preflight, and the Host check against
// DNS rebinding, on the real server.
func TestGuard(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, server: func(c *httpapi.ServerConfig) {
		c.AuthToken = secret.Secret(testToken)
		c.CORSOrigins = []string{"https://app.example"}
		c.CheckHost = true
		c.AllowedHosts = []string{"My.Box"}
	}})
	port := d.URL[strings.LastIndex(d.URL, ":"):]
	auth := map[string]string{"Authorization": "Bearer " + testToken}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"Authorization": "Bearer " + testToken}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	chat := `{"model":"local","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name         string
		method, path string
		host         string
		hdr          map[string]string
		body         string
		status       int
		code         string            // OpenAI error code (routes outside /api/)
		want         map[string]string // response headers that must contain these
		absent       []string          // response headers that must be absent
	}{
		{name: "no token", method: "GET", path: "/v1/models", status: 401, code: "invalid_api_key",
			want: map[string]string{"WWW-Authenticate": "Bearer"}},
		{name: "no token, Ollama route", method: "GET", path: "/api/tags", status: 401, want: map[string]string{"WWW-Authenticate": "Bearer"}},
		{name: "no token, chat", method: "POST", path: "/v1/chat/completions", body: chat, status: 401, code: "invalid_api_key"},
		{name: "no token, healthz", method: "GET", path: "/healthz", status: 401, code: "invalid_api_key"},
		{name: "no token, metrics", method: "GET", path: "/metrics", status: 401, code: "invalid_api_key"},
		{name: "wrong token", method: "GET", path: "/v1/models", hdr: map[string]string{"Authorization": "Bearer " + testToken + "x"}, status: 401, code: "invalid_api_key"},
		{name: "token prefix", method: "GET", path: "/v1/models", hdr: map[string]string{"Authorization": "Bearer " + testToken[:8]}, status: 401, code: "invalid_api_key"},
		{name: "token without scheme", method: "GET", path: "/v1/models", hdr: map[string]string{"Authorization": testToken}, status: 401, code: "invalid_api_key"},
		{name: "basic scheme", method: "GET", path: "/v1/models", hdr: map[string]string{"Authorization": "Basic " + testToken}, status: 401, code: "invalid_api_key"},
		{name: "right token", method: "GET", path: "/v1/models", hdr: auth, status: 200, want: map[string]string{"Vary": "Origin"}},
		{name: "scheme in lower case", method: "GET", path: "/api/tags", hdr: map[string]string{"Authorization": "bearer " + testToken}, status: 200},
		{name: "healthz with token", method: "GET", path: "/healthz", hdr: auth, status: 200},
		{name: "rebinding host", method: "GET", path: "/v1/models", host: "evil.example" + port, hdr: auth, status: 403, code: "host_not_allowed"},
		{name: "rebinding host, no token", method: "GET", path: "/api/tags", host: "evil.example", status: 403},
		{name: "localhost", method: "GET", path: "/v1/models", host: "localhost" + port, hdr: auth, status: 200},
		{name: "localhost, trailing dot", method: "GET", path: "/v1/models", host: "LOCALHOST." + port, hdr: auth, status: 200},
		{name: "IPv6 loopback", method: "GET", path: "/v1/models", host: "[::1]" + port, hdr: auth, status: 200},
		{name: "other loopback IP", method: "GET", path: "/v1/models", host: "127.0.0.2", hdr: auth, status: 200},
		{name: "configured host", method: "GET", path: "/v1/models", host: "my.box" + port, hdr: auth, status: 200},
		{name: "LAN IP host", method: "GET", path: "/v1/models", host: "192.168.1.5" + port, hdr: auth, status: 403, code: "host_not_allowed"},
		{name: "foreign origin", method: "GET", path: "/v1/models", hdr: with("Origin", "https://evil.example"), status: 403, code: "origin_not_allowed",
			absent: []string{"Access-Control-Allow-Origin"}},
		{name: "foreign origin, chat", method: "POST", path: "/api/chat", body: chat, hdr: with("Origin", "https://evil.example"), status: 403},
		{name: "null origin", method: "GET", path: "/v1/models", hdr: with("Origin", "null"), status: 403, code: "origin_not_allowed"},
		{name: "origin differs in port", method: "GET", path: "/v1/models", hdr: with("Origin", "https://app.example:8443"), status: 403, code: "origin_not_allowed"},
		{name: "allowed origin", method: "GET", path: "/v1/models", hdr: with("Origin", "https://app.example"), status: 200,
			want: map[string]string{"Access-Control-Allow-Origin": "https://app.example", "Vary": "Origin", "Access-Control-Expose-Headers": "X-Cascade-Route"}},
		{name: "allowed origin without token", method: "GET", path: "/v1/models", hdr: map[string]string{"Origin": "https://app.example"}, status: 401, code: "invalid_api_key",
			want: map[string]string{"Access-Control-Allow-Origin": "https://app.example"}},
		{name: "preflight", method: "OPTIONS", path: "/v1/chat/completions",
			hdr:    map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type, x-cascade-policy"},
			status: 204, want: map[string]string{"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Methods": "POST",
				"Access-Control-Allow-Headers": "Authorization, Content-Type, X-Cascade-Policy, X-Cascade-Defer, Last-Event-ID", "Vary": "Origin"}},
		{name: "preflight, foreign origin", method: "OPTIONS", path: "/v1/chat/completions",
			hdr:    map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
			status: 403, code: "origin_not_allowed", absent: []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw := send(t, tc.method, d.URL+tc.path, tc.host, tc.hdr, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
			}
			if tc.status >= 400 {
				if code := errorShape(t, tc.path, raw); code != tc.code {
					t.Fatalf("code %q, want %q", code, tc.code)
				}
			}
			for k, v := range tc.want {
				if got := strings.Join(resp.Header.Values(k), ", "); !strings.Contains(got, v) {
					t.Fatalf("header %s = %q, want it to contain %q", k, got, v)
				}
			}
			for _, k := range tc.absent {
				if v := resp.Header.Get(k); v != "" {
					t.Fatalf("header %s = %q, want none", k, v)
				}
			}
		})
	}
	if n := d.cloudCalls(); n != 0 {
		t.Fatalf("refused requests reached the cloud %d times", n)
	}
}

// TestGuardDefaults: without settings there is no token, every browser
// origin is refused, and clients that send no Origin (curl, SDKs) pass; with
// CheckHost off (a non-loopback bind guarded by a token) any Host passes.
func TestGuardDefaults(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5})
	for _, tc := range []struct {
		name   string
		host   string
		hdr    map[string]string
		status int
	}{
		{"no origin", "", nil, 200},
		{"any origin", "", map[string]string{"Origin": "http://localhost:3000"}, 403},
		{"any host", "edgecascade.lan", nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw := send(t, "GET", d.URL+"/v1/models", tc.host, tc.hdr, "")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
			}
			if v := resp.Header.Values("Vary"); !strings.Contains(strings.Join(v, ","), "Origin") {
				t.Fatalf("Vary = %q", v)
			}
		})
	}
}

// TestPolicyHeader: X-Cascade-Policy decides for model auto, local in the
// header always wins, a header that would send a local request to the cloud
// (or any other disagreement) is a 400, on every chat route. The threshold
// escalates every auto answer, so a route of local proves the header held.
func TestPolicyHeader(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 1.01})
	bodies := map[string]func(model string) string{
		"/v1/chat/completions": func(m string) string {
			return `{"model":"` + m + `","temperature":0,"messages":[{"role":"user","content":"` + easyQuestion + `"}]}`
		},
		"/api/chat": func(m string) string {
			return `{"model":"` + m + `","stream":false,"options":{"temperature":0},"messages":[{"role":"user","content":"` + easyQuestion + `"}]}`
		},
		"/api/generate": func(m string) string {
			return `{"model":"` + m + `","stream":false,"options":{"temperature":0},"prompt":"` + easyQuestion + `"}`
		},
		"/v1/completions": func(m string) string {
			return `{"model":"` + m + `","temperature":0,"prompt":"` + easyQuestion + `"}`
		},
	}
	tests := []struct {
		model, header string
		status        int
		route         string
	}{
		{"auto", "", 200, "cloud"},
		{"auto", "local", 200, "local"},
		{"auto", " LOCAL ", 200, "local"},
		{"cloud", "local", 200, "local"},
		{"local", "local", 200, "local"},
		{"auto", "cloud", 200, "cloud"},
		{"local", "cloud", 400, ""},
		{"local", "auto", 400, ""},
		{"cloud", "auto", 400, ""},
		{"auto", "remote", 400, ""},
		{"auto", "local,cloud", 400, ""},
	}
	for path, body := range bodies {
		for _, tc := range tests {
			t.Run(path+"/"+tc.model+"+"+tc.header, func(t *testing.T) {
				before := d.cloudCalls()
				resp, raw := send(t, "POST", d.URL+path, "", map[string]string{httpapi.PolicyHeader: tc.header}, body(tc.model))
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
				}
				if tc.status != 200 {
					errorShape(t, path, raw)
					if !strings.Contains(string(raw), httpapi.PolicyHeader) {
						t.Fatalf("the error does not name the header: %s", raw)
					}
				} else if got := resp.Header.Get("X-Cascade-Route"); got != tc.route {
					t.Fatalf("route %q, want %q", got, tc.route)
				}
				calls := d.cloudCalls() - before
				if (tc.route == "cloud") != (calls > 0) {
					t.Fatalf("route %q with %d cloud calls", tc.route, calls)
				}
			})
		}
	}
}

// TestTokenWithOfficialSDK: an OpenAI SDK client passes the daemon's token
// as its API key; with a wrong key the SDK reports a 401 it can parse.
func TestTokenWithOfficialSDK(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, server: func(c *httpapi.ServerConfig) { c.AuthToken = secret.Secret(testToken) }})
	params := oai.ChatCompletionNewParams{Model: "local", Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage(easyQuestion)}, Temperature: oai.Float(0)}
	good := oai.NewClient(option.WithBaseURL(d.URL+"/v1"), option.WithAPIKey(testToken), option.WithMaxRetries(0))
	if resp, err := good.Chat.Completions.New(context.Background(), params); err != nil || len(resp.Choices) != 1 {
		t.Fatalf("with the token: %v", err)
	}
	bad := oai.NewClient(option.WithBaseURL(d.URL+"/v1"), option.WithAPIKey("sk-not-the-token"), option.WithMaxRetries(0))
	_, err := bad.Chat.Completions.New(context.Background(), params)
	var apiErr *oai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || apiErr.Code != "invalid_api_key" {
		t.Fatalf("with a wrong key: %v", err)
	}
}
