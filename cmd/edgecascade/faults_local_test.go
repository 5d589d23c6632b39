package main

// Local-model faults: a real `ollama serve` of its own (so that killing it
// touches no other test) with the test bed's weak model; the cloud is the
// shared test bed Ollama's strong model through its OpenAI-compatible /v1.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

// killProxy passes every request through to a real Ollama unchanged. It is
// not a fake: it only tells the test when a chat request has been handed to
// Ollama, so that Ollama can be killed while it works on that request. The
// proxy stops and starts with Ollama (on the same address), so that the daemon
// sees what it would see without it: a dropped connection when Ollama dies
// mid-request, and "connection refused" while Ollama is down.
type killProxy struct {
	URL       string
	addr      string
	handler   http.Handler
	transport *http.Transport
	armed     atomic.Pointer[func()] // run once, right after the next chat request was sent
	// midStream runs once, after the first line of the next chat answer
	// was passed on; the rest of the answer is then cut.
	midStream atomic.Pointer[func()]
	srv       *http.Server
}

func newKillProxy(t *testing.T, target string) *killProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &killProxy{transport: http.DefaultTransport.(*http.Transport).Clone()}
	p.handler = &forwarder{target: u, transport: p.transport, armed: &p.armed, midStream: &p.midStream}
	p.addr = "127.0.0.1:0"
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	p.URL = "http://" + p.addr
	t.Cleanup(p.stop)
	return p
}

// start listens on the proxy's address again.
func (p *killProxy) start() error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("proxy: listen on %s: %w", p.addr, err)
	}
	p.addr = ln.Addr().String()
	p.srv = &http.Server{Handler: p.handler}
	go func() { _ = p.srv.Serve(ln) }()
	return nil
}

// stop closes the listener and every connection at once.
func (p *killProxy) stop() { _ = p.srv.Close() }

// forwarder forwards a request and arms the kill hook on chat requests.
type forwarder struct {
	target    *url.URL
	transport *http.Transport
	armed     *atomic.Pointer[func()]
	midStream *atomic.Pointer[func()]
}

func (h *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = h.target.Scheme, h.target.Host
	if r.URL.Path == "/api/chat" {
		if f := h.armed.Swap(nil); f != nil {
			var once sync.Once
			out = out.WithContext(httptrace.WithClientTrace(out.Context(), &httptrace.ClientTrace{
				WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(*f) },
			}))
		}
	}
	resp, err := h.transport.RoundTrip(out)
	if err != nil {
		panic(http.ErrAbortHandler) // drop the connection: no answer at all
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	if r.URL.Path == "/api/chat" {
		if f := h.midStream.Swap(nil); f != nil {
			// Pass on the answer's first line only, as if Ollama had died
			// right after sending it.
			line, _ := bufio.NewReader(resp.Body).ReadBytes('\n')
			_, _ = w.Write(line)
			w.(http.Flusher).Flush()
			(*f)()
			panic(http.ErrAbortHandler)
		}
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
		}
		if err != nil {
			if err != io.EOF {
				panic(http.ErrAbortHandler) // Ollama died mid-answer
			}
			return
		}
	}
}

// localFixture is an Ollama of its own behind a killProxy, and a daemon
// whose local model is behind the proxy.
type localFixture struct {
	ollama *ollamatest.Server
	proxy  *killProxy
	d      *daemonProc
	mu     sync.Mutex
	down   bool
}

func (fx *faultFixtures) local(t *testing.T) *localFixture {
	s := needBed(t)
	return fx.get("local", func(pt *testing.T) any {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		o, err := ollamatest.Start(ctx, pt.TempDir(), ollamatest.Weak)
		if err != nil {
			pt.Fatal(err)
		}
		pt.Cleanup(o.Stop)
		lf := &localFixture{ollama: o, proxy: newKillProxy(pt, o.URL)}
		lf.d = startServe(pt, map[string]string{
			"EDGECASCADE_LOCAL_URL":         lf.proxy.URL,
			"EDGECASCADE_LOCAL_MODEL":       ollamatest.Weak,
			"EDGECASCADE_CLOUD_BASE_URL":    s.URL + "/v1",
			"EDGECASCADE_CLOUD_MODEL":       ollamatest.Strong,
			"EDGECASCADE_CASCADE_THRESHOLD": "0.5",
		})
		return lf
	}).(*localFixture)
}

// up makes sure the local Ollama runs (a case before may have killed it).
func (lf *localFixture) up(t *testing.T) {
	t.Helper()
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if !lf.down {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := lf.ollama.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	lf.proxy.transport.CloseIdleConnections()
	if err := lf.proxy.start(); err != nil {
		t.Fatal(err)
	}
	lf.down = false
}

// kill kills Ollama (SIGKILL, with its runners) now.
func (lf *localFixture) kill() {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	lf.ollama.Stop()
	lf.proxy.stop()
	lf.down = true
}

// killMidStream kills Ollama once the first line of the next chat answer
// has reached the daemon.
func (lf *localFixture) killMidStream() {
	f := lf.kill
	lf.proxy.midStream.Store(&f)
}

// killOnNextChat kills Ollama right after it received the next chat request.
func (lf *localFixture) killOnNextChat() {
	f := lf.kill
	lf.proxy.armed.Store(&f)
}

func localFaultCases() []faultCase {
	const killed = "local: Ollama killed (SIGKILL) while it works on the request"
	return []faultCase{
		{
			name: "local/killed-mid-request/policy-auto", fault: killed,
			expected: "`auto`: 200 from the cloud, `cascade.reason` says the local model is unavailable",
			run: func(t *testing.T, fx *faultFixtures) string {
				lf := fx.local(t)
				lf.up(t)
				lf.killOnNextChat()
				o := postChat(t, lf.d.url, "auto", false)
				if o.err != nil || o.status != http.StatusOK || str(o.cascade, "route") != "cloud" {
					t.Fatalf("want 200 from the cloud: %v status %d body %s", o.err, o.status, o.body)
				}
				reason := str(o.cascade, "reason")
				mustContain(t, "reason", reason, "local model unavailable", ollamatest.Weak)
				return fmt.Sprintf("200, route cloud, escalated: %v; reason: %s", o.cascade["escalated"], normalize(reason))
			},
		},
		{
			name: "local/killed-mid-request/policy-local", fault: killed,
			expected: "`local`: 503 `local_model_unavailable` naming the model and how to start Ollama",
			run: func(t *testing.T, fx *faultFixtures) string {
				lf := fx.local(t)
				lf.up(t)
				lf.killOnNextChat()
				o := postChat(t, lf.d.url, "local", false)
				if o.err != nil || o.status != http.StatusServiceUnavailable || o.errBody == nil {
					t.Fatalf("want 503: %v status %d body %s", o.err, o.status, o.body)
				}
				msg := o.errText()
				mustContain(t, "error", msg, "local_model_unavailable", ollamatest.Weak, "ollama serve")
				return fmt.Sprintf("%d %s", o.status, normalize(msg))
			},
		},
		{
			name: "local/killed-mid-stream/policy-local", fault: "local: Ollama killed (SIGKILL) after the first piece of a streamed answer",
			expected: "`local` stream: the text so far, then an error event `local_model_unavailable` in the stream and no `[DONE]`; the daemon keeps serving",
			run: func(t *testing.T, fx *faultFixtures) string {
				lf := fx.local(t)
				lf.up(t)
				lf.killMidStream()
				o := postChat(t, lf.d.url, "local", true)
				if o.status != http.StatusOK || o.errBody == nil || o.done() {
					t.Fatalf("want a 200 stream ending in an error event: %v status %d events %q", o.err, o.status, o.events)
				}
				msg := o.errText()
				mustContain(t, "stream error", msg, "local_model_unavailable", ollamatest.Weak)
				lf.up(t)
				again := postChat(t, lf.d.url, "local", true)
				if again.status != http.StatusOK || !again.done() || again.content == "" {
					t.Fatalf("after Ollama is back: status %d events %q", again.status, again.events)
				}
				return fmt.Sprintf("200 stream: %d piece(s) of text, then error event %s; no [DONE]; after the restart a full stream", len(o.deltas), normalize(msg))
			},
		},
		{
			name: "local/down/healthz", fault: "local: Ollama is down (killed), the daemon keeps running",
			expected: "`/healthz`: 200 `degraded`, the local error shown, the cloud reachable; `auto` keeps answering from the cloud",
			run: func(t *testing.T, fx *faultFixtures) string {
				lf := fx.local(t)
				lf.up(t)
				lf.kill()
				h := getHealth(t, lf.d.url)
				if h.status != http.StatusOK || h.Status != "degraded" || h.Local.OK || h.Local.Error == "" || !h.Cloud.Reachable {
					t.Fatalf("health %d %+v", h.status, h)
				}
				o := postChat(t, lf.d.url, "auto", false)
				if o.status != http.StatusOK || str(o.cascade, "route") != "cloud" {
					t.Fatalf("auto with the local model down: status %d body %s", o.status, o.body)
				}
				return fmt.Sprintf("/healthz %d %s, local.ok false (%s), cloud reachable; auto: %d route cloud",
					h.status, h.Status, normalize(h.Local.Error), o.status)
			},
		},
		{
			name: "local/restarted/policy-local", fault: "local: Ollama restarted (killed, then started again on the same address)",
			expected: "the next request is answered locally, without restarting the daemon",
			run: func(t *testing.T, fx *faultFixtures) string {
				lf := fx.local(t)
				lf.up(t)
				lf.kill()
				if o := postChat(t, lf.d.url, "local", false); o.status != http.StatusServiceUnavailable {
					t.Fatalf("local while Ollama is down: status %d body %s", o.status, o.body)
				}
				lf.up(t)
				o := postChat(t, lf.d.url, "local", false)
				if o.err != nil || o.status != http.StatusOK || str(o.cascade, "route") != "local" || o.content == "" {
					t.Fatalf("after the restart: %v status %d body %s", o.err, o.status, o.body)
				}
				h := getHealth(t, lf.d.url)
				if h.Status != "ok" {
					t.Fatalf("health after the restart: %+v", h)
				}
				return fmt.Sprintf("503 while down; after the restart %d route local, /healthz %s", o.status, h.Status)
			},
		},
		{
			name: "local/model-missing/policy-local", fault: "local: `local.model` is not in Ollama",
			expected: "`local`: 503 `local_model_not_found` naming the model, `ollama pull` and `ollama create`",
			run: func(t *testing.T, fx *faultFixtures) string {
				d := fx.missingModelDaemon(t)
				o := postChat(t, d.url, "local", false)
				if o.status != http.StatusServiceUnavailable || o.errBody == nil {
					t.Fatalf("want 503: status %d body %s", o.status, o.body)
				}
				msg := o.errText()
				mustContain(t, "error", msg, "local_model_not_found", "no-such-model", "ollama pull no-such-model", "ollama create no-such-model")
				return fmt.Sprintf("%d %s", o.status, normalize(msg))
			},
		},
		{
			name: "local/model-missing/policy-auto", fault: "local: `local.model` is not in Ollama",
			expected: "`auto`: 200 from the cloud, `cascade.reason` names the missing model",
			run: func(t *testing.T, fx *faultFixtures) string {
				d := fx.missingModelDaemon(t)
				o := postChat(t, d.url, "auto", false)
				if o.status != http.StatusOK || str(o.cascade, "route") != "cloud" {
					t.Fatalf("want 200 from the cloud: status %d body %s", o.status, o.body)
				}
				reason := str(o.cascade, "reason")
				mustContain(t, "reason", reason, "no-such-model")
				return fmt.Sprintf("200, route cloud; reason: %s", normalize(reason))
			},
		},
	}
}

func (fx *faultFixtures) missingModelDaemon(t *testing.T) *daemonProc {
	s := needBed(t)
	return fx.get("missing-model", func(pt *testing.T) any {
		env := bedEnv(s)
		env["EDGECASCADE_LOCAL_MODEL"] = "no-such-model"
		return startServe(pt, env)
	}).(*daemonProc)
}

// healthOutcome is /healthz as a client sees it.
type healthOutcome struct {
	status int
	Status string `json:"status"`
	Local  struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"local"`
	Cloud struct {
		Reachable bool   `json:"reachable"`
		Error     string `json:"error"`
	} `json:"cloud"`
	Decisions *struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"decisions"`
}

func getHealth(t *testing.T, base string) healthOutcome {
	t.Helper()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h healthOutcome
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	h.status = resp.StatusCode
	return h
}
