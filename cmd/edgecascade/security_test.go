package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/agent/httpapi"
	"github.com/edgecascade/edgecascade/cloud/openai/openaitest"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

// serveRaw starts `serve` with exactly args (no --listen added) and returns
// the process, its stderr, and the address it listens on, or the combined
// output when it exits without listening.
func serveRaw(t *testing.T, env map[string]string, args ...string) (*daemonProc, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, binary, append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), "EDGECASCADE_DATA_DIR="+t.TempDir())
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &syncBuffer{}
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return &daemonProc{cmd: cmd, url: u}, ""
		}
	}
	_ = cmd.Wait()
	return nil, logs.String()
}

// syncBuffer is a bytes buffer safe for the process's writer goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// loopbackURL turns "http://[::]:PORT" or "http://0.0.0.0:PORT" into a URL
// on 127.0.0.1.
func loopbackURL(t *testing.T, u string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(u, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return "http://127.0.0.1:" + port
}

// lanIP is a non-loopback address of this machine, or "".
func lanIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

// nonLoopbackName is this machine's host name when it resolves to
// non-loopback addresses only, or "".
func nonLoopbackName() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	ips, err := net.LookupIP(h)
	if err != nil || len(ips) == 0 {
		return ""
	}
	for _, ip := range ips {
		if ip.IsLoopback() {
			return ""
		}
	}
	return h
}

func getStatus(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeBindPolicy runs the real binary: a listen address beyond
// loopback is refused without a token, served with one (which every request
// then needs), and served with a warning when forced.
func TestServeBindPolicy(t *testing.T) {
	s := needBed(t)
	const token = "bind-test-token-0123456789"
	refused := []string{"0.0.0.0:0", "[::]:0", ":0"}
	if ip := lanIP(); ip != "" {
		refused = append(refused, ip+":0")
	}
	if h := nonLoopbackName(); h != "" {
		refused = append(refused, h+":0")
	}
	for _, listen := range refused {
		t.Run("refused "+listen, func(t *testing.T) {
			d, out := serveRaw(t, bedEnv(s), "--listen", listen)
			if d != nil {
				t.Fatalf("serve listened on %s without a token", d.url)
			}
			for _, w := range []string{"setting listen", "is not a loopback address", "server.auth_token", "server.allow_insecure_bind"} {
				if !strings.Contains(out, w) {
					t.Fatalf("refusal does not say %q:\n%s", w, out)
				}
			}
		})
	}
	t.Run("localhost is loopback", func(t *testing.T) {
		d, out := serveRaw(t, bedEnv(s), "--listen", "localhost:0")
		if d == nil {
			t.Fatalf("serve refused localhost:\n%s", out)
		}
	})
	t.Run("token", func(t *testing.T) {
		env := bedEnv(s)
		env["EDGECASCADE_SERVER_AUTH_TOKEN"] = token
		d, out := serveRaw(t, env, "--listen", "0.0.0.0:0")
		if d == nil {
			t.Fatalf("serve with a token refused 0.0.0.0:\n%s", out)
		}
		u := loopbackURL(t, d.url)
		if got := getStatus(t, u+"/v1/models", ""); got != http.StatusUnauthorized {
			t.Fatalf("without the token: %d", got)
		}
		if got := getStatus(t, u+"/v1/models", token); got != http.StatusOK {
			t.Fatalf("with the token: %d", got)
		}
	})
	t.Run("token file", func(t *testing.T) {
		path := t.TempDir() + "/token"
		os.WriteFile(path, []byte(token+"\n"), 0o600)
		d, out := serveRaw(t, bedEnv(s), "--listen", "0.0.0.0:0", "--server.auth_token_file", path)
		if d == nil {
			t.Fatalf("serve with a token file refused 0.0.0.0:\n%s", out)
		}
		if got := getStatus(t, loopbackURL(t, d.url)+"/api/tags", token); got != http.StatusOK {
			t.Fatalf("with the token from the file: %d", got)
		}
	})
	t.Run("forced", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, "serve", "--listen", "0.0.0.0:0", "--server.allow_insecure_bind=true")
		cmd.Env = append(os.Environ(), "EDGECASCADE_DATA_DIR="+t.TempDir())
		for k, v := range bedEnv(s) {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		logs := &syncBuffer{}
		cmd.Stderr = logs
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "listening on ") {
			t.Fatalf("forced bind did not serve: %q %v\n%s", line, err, logs)
		}
		if got := getStatus(t, loopbackURL(t, strings.TrimSpace(strings.TrimPrefix(line, "listening on ")))+"/v1/models", ""); got != http.StatusOK {
			t.Fatalf("forced bind without a token: %d", got)
		}
		if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "WITHOUT a bearer token") {
			t.Fatalf("no warning for a forced bind:\n%s", l)
		}
	})
}

// echoCloud is a fake OpenAI-compatible cloud (openaitest: the paid API
// cannot run here; it follows OpenAI's documented error shape) that fails
// every call and echoes the request headers, API key included, into its
// error message: the worst case of a provider error that leaks what it was
// sent.
func echoCloud(t *testing.T) *openaitest.Server {
	t.Helper()
	srv := openaitest.New(t, openaitest.Config{})
	srv.Set(openaitest.Fault{EchoHeaders: true})
	return srv
}

// sawKey counts the requests that carried the API key.
func sawKey(srv *openaitest.Server, key string) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Header.Get("Authorization") == "Bearer "+key {
			n++
		}
	}
	return n
}

// TestSecretsNeverLeak runs the real binary with a distinctive API key and
// server token, debug logging and content logging, through a full session:
// every route, cloud errors that echo the key back, /healthz, /metrics, the
// decision log, `config`. The key and the token appear in none of it.
func TestSecretsNeverLeak(t *testing.T) {
	s := needBed(t)
	key := fmt.Sprintf("sk-test-LEAKCHECK-%d", time.Now().UnixNano())
	token := fmt.Sprintf("tok-LEAKCHECK-%d", time.Now().UnixNano())
	cl := echoCloud(t)
	env := map[string]string{
		"EDGECASCADE_LOCAL_URL":         s.URL,
		"EDGECASCADE_LOCAL_MODEL":       ollamatest.Weak,
		"EDGECASCADE_CLOUD_BASE_URL":    cl.BaseURL(),
		"EDGECASCADE_CLOUD_MODEL":       "gpt-echo",
		"EDGECASCADE_CLOUD_API_KEY":     key,
		"EDGECASCADE_CLOUD_MAX_RETRIES": "0",
		"EDGECASCADE_SERVER_AUTH_TOKEN": token,
		"EDGECASCADE_LOG_LEVEL":         "debug",
		"EDGECASCADE_LOG_CONTENT":       "true",
		"EDGECASCADE_CASCADE_THRESHOLD": "1.01", // auto escalates, into the echoing error
	}
	dataDir := t.TempDir()
	env["EDGECASCADE_DATA_DIR"] = dataDir
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "serve", "--listen", "127.0.0.1:0")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdoutPipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	stdout := &syncBuffer{}
	first, err := bufio.NewReader(io.TeeReader(stdoutPipe, stdout)).ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "listening on ") {
		t.Fatalf("serve: %q %v\n%s", first, err, stderr)
	}
	go func() { _, _ = io.Copy(stdout, stdoutPipe) }()
	base := strings.TrimSpace(strings.TrimPrefix(first, "listening on "))

	var bodies strings.Builder
	do := func(method, path, auth, body string, hdr ...string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		fmt.Fprintf(&bodies, "%s %s -> %d %v\n%s\n", method, path, resp.StatusCode, resp.Header, b)
		return resp.StatusCode
	}
	bearer := "Bearer " + token
	msgs := `"messages":[{"role":"user","content":"Spell rmzf backwards."}]`
	for _, model := range []string{"auto", "cloud", "local"} {
		for _, stream := range []string{"false", "true"} {
			do("POST", "/v1/chat/completions", bearer, `{"model":"`+model+`","stream":`+stream+`,`+msgs+`}`)
			do("POST", "/api/chat", bearer, `{"model":"`+model+`","stream":`+stream+`,`+msgs+`}`)
			do("POST", "/api/generate", bearer, `{"model":"`+model+`","stream":`+stream+`,"prompt":"What is 2+2?"}`)
			do("POST", "/v1/completions", bearer, `{"model":"`+model+`","stream":`+stream+`,"prompt":"What is 2+2?"}`)
		}
	}
	if got := do("POST", "/v1/chat/completions", bearer, `{"model":"cloud",`+msgs+`}`); got != http.StatusBadGateway {
		t.Fatalf("the echoing cloud should fail policy cloud with 502, got %d", got)
	}
	for _, p := range []string{"/healthz", "/metrics", "/v1/models", "/api/tags", "/api/version", "/v1/cascade/decisions?n=100", "/v1/cascade/decisions/export", "/nope"} {
		do("GET", p, bearer, "")
	}
	do("GET", "/v1/models", "Bearer wrong-token", "")
	do("GET", "/v1/models", "Bearer "+key, "") // a client that sends the cloud key by mistake
	do("POST", "/v1/chat/completions", bearer, `{"model":"auto","messages":[{"role":"user","content":"hi"}]`)
	do("POST", "/v1/chat/completions", bearer, `{"model":"auto",`+msgs+`}`, "X-Cascade-Policy", "bogus")
	if sawKey(cl, key) == 0 {
		t.Fatal("the key never reached the cloud: the session did not exercise it")
	}

	// The running daemon holds the log: `log export` asks it, with the token.
	expCmd := exec.Command(binary, "log", "export", "--jsonl", "--listen", strings.TrimPrefix(base, "http://"))
	expCmd.Env = cmd.Env
	exp, err := expCmd.CombinedOutput()
	if err != nil || !strings.Contains(string(exp), `"policy"`) {
		t.Fatalf("log export: %v\n%s", err, exp)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	cfgCmd := exec.Command(binary, "config")
	cfgCmd.Env = cmd.Env
	cfgOut, err := cfgCmd.CombinedOutput()
	if err != nil {
		t.Fatalf("config: %v\n%s", err, cfgOut)
	}
	if !strings.Contains(stderr.String(), "level=DEBUG") && !strings.Contains(stderr.String(), "level=INFO") {
		t.Fatalf("no logs captured:\n%s", stderr)
	}
	for name, text := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String(), "responses": bodies.String(),
		"config": string(cfgOut), "decision log export": string(exp)} {
		for what, secret := range map[string]string{"API key": key, "server token": token, "key stem": "LEAKCHECK"} {
			if i := strings.Index(text, secret); i >= 0 {
				t.Errorf("the %s leaks into %s: …%s…", what, name, text[max(0, i-200):min(len(text), i+100)])
			}
		}
	}
}

// TestLocalNeverLeavesDevice runs the real binary with a cloud address whose
// listener fails the test on any connection at all, and sends local
// requests (model local, or header X-Cascade-Policy: local), streamed and
// not, on the OpenAI and Ollama routes. The threshold would escalate every
// auto answer.
func TestLocalNeverLeavesDevice(t *testing.T) {
	s := needBed(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			t.Errorf("the cloud received a connection from %s", c.RemoteAddr())
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	env := map[string]string{
		"EDGECASCADE_LOCAL_URL":         s.URL,
		"EDGECASCADE_LOCAL_MODEL":       ollamatest.Weak,
		"EDGECASCADE_CLOUD_BASE_URL":    "http://" + ln.Addr().String() + "/v1",
		"EDGECASCADE_CLOUD_MODEL":       ollamatest.Strong,
		"EDGECASCADE_CLOUD_API_KEY":     "sk-test-never-used",
		"EDGECASCADE_CASCADE_THRESHOLD": "1.01",
	}
	d := startServe(t, env)
	msgs := `"messages":[{"role":"user","content":"What is 4721 + 3389?"}]`
	type via struct{ model, header string }
	for _, path := range []string{"/v1/chat/completions", "/api/chat", "/api/generate", "/v1/completions"} {
		for _, v := range []via{{"local", ""}, {"auto", "local"}, {"cloud", "local"}, {"local:latest", ""}} {
			if strings.HasPrefix(path, "/v1/") && v.model == "local:latest" {
				continue // an Ollama-style name
			}
			for _, stream := range []string{"false", "true"} {
				name := fmt.Sprintf("%s model=%s header=%s stream=%s", path, v.model, v.header, stream)
				t.Run(name, func(t *testing.T) {
					body := `{"model":"` + v.model + `","stream":` + stream + `,` + msgs + `}`
					if path == "/api/generate" || path == "/v1/completions" {
						body = `{"model":"` + v.model + `","stream":` + stream + `,"prompt":"What is 4721 + 3389?"}`
					}
					req, _ := http.NewRequest("POST", d.url+path, strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					if v.header != "" {
						req.Header.Set("X-Cascade-Policy", v.header)
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Cascade-Route") != "local" {
						t.Fatalf("status %d route %q: %s", resp.StatusCode, resp.Header.Get("X-Cascade-Route"), raw)
					}
					if strings.Contains(string(raw), `"error"`) || !strings.Contains(string(raw), `"route":"local"`) {
						t.Fatalf("not a local answer: %s", raw)
					}
				})
			}
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("the cloud received %d connections", n)
	}
}

// TestServePprofGuarded runs the real binary with server.pprof and a token:
// the profiles sit behind the same guard as the API (issue 14, item 1), so
// a page that rebinds a name of its own to 127.0.0.1 cannot read them. The
// dashboard's files (Route.Page) are the one exception to the token, not to
// the Host and Origin checks: without it they answer with their CSP.
func TestServePprofGuarded(t *testing.T) {
	const token = "pprof-test-token-0123456789"
	d := startServe(t, map[string]string{"EDGECASCADE_SERVER_AUTH_TOKEN": token},
		"--server.pprof=true", "--local.url", "http://127.0.0.1:9")
	port := d.url[strings.LastIndex(d.url, ":"):]
	paths := []string{"/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=2", "/debug/pprof/symbol", "/v1/models"}
	// Every GET route of the table (the profiles' included) refuses too.
	var refusedOnly []string
	pages := map[string]bool{}
	for _, rt := range httpapi.NewServer(nil, httpapi.ServerConfig{Pprof: true}, nil).Routes() {
		if rt.Method == "GET" && !strings.Contains(rt.Pattern, "{") {
			refusedOnly = append(refusedOnly, rt.Pattern)
			pages[rt.Pattern] = rt.Page != nil && rt.Page(httptest.NewRequest("GET", rt.Pattern, nil))
		}
	}
	if !slices.Contains(refusedOnly, "/debug/pprof/trace") {
		t.Fatalf("the route table lacks the profiles: %v", refusedOnly)
	}
	for _, path := range append(paths, refusedOnly...) {
		for _, tc := range []struct {
			name        string
			token, host string
			origin      string
			status      int
		}{
			{"no token", "", "", "", http.StatusUnauthorized},
			{"wrong token", token + "x", "", "", http.StatusUnauthorized},
			{"foreign host", token, "evil.example" + port, "", http.StatusForbidden},
			{"foreign origin", token, "", "https://evil.example", http.StatusForbidden},
			{"token", token, "", "", http.StatusOK},
		} {
			if tc.status == http.StatusOK && !slices.Contains(paths, path) {
				continue // served with the token: not every route is quick (profile, trace)
			}
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				req, _ := http.NewRequest("GET", d.url+path, nil)
				if tc.token != "" {
					req.Header.Set("Authorization", "Bearer "+tc.token)
				}
				if tc.host != "" {
					req.Host = tc.host
				}
				if tc.origin != "" {
					req.Header.Set("Origin", tc.origin)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if pages[path] && tc.status == http.StatusUnauthorized {
					if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") == "" {
						t.Fatalf("dashboard file without the token: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
					}
					return
				}
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tc.status, b)
				}
			})
		}
	}
}
