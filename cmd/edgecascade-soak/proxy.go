package main

// The chaos proxy: it stands between the daemon and cloudsim, counts every
// chat completion that reaches cloudsim, and misbehaves on command.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how the proxy treats the next calls.
type Mode string

const (
	ModePass   Mode = "pass"   // forward to cloudsim
	ModeRefuse Mode = "refuse" // nothing listens: connection refused
	ModeDrop   Mode = "drop"   // accept, then close without a response
	Mode429    Mode = "429"    // 429 with Retry-After
	Mode5xx    Mode = "5xx"    // 500, 502 or 503 with an OpenAI error body
	ModeSlow   Mode = "slow"   // wait 1–7 s, then forward
	ModeCut    Mode = "cut"    // forward, relay part of the answer, cut the connection
	ModeFlaky  Mode = "flaky"  // pass, with 30% of calls failing in one of the ways above
)

// badWeather lists the modes the chaos loop flaps the cloud into.
var badWeather = []Mode{ModeRefuse, ModeDrop, Mode429, Mode5xx, ModeSlow, ModeCut, ModeFlaky}

// proxyCounts is what the proxy saw.
type proxyCounts struct {
	Forwarded map[string]int // chat completions that reached cloudsim, by UTC day
	Answered  map[string]int // of those, relayed whole with status 200, by UTC day
	Faked     map[Mode]int   // calls answered (or dropped) by the proxy itself
	// Unfinished counts forwarded calls not relayed whole, by why: billed
	// by the provider all the same.
	Unfinished map[string]int
}

// Proxy is the chaos proxy. Safe for concurrent use.
type Proxy struct {
	upstream string // cloudsim's base URL
	client   *http.Client
	now      func() time.Time

	mu       sync.Mutex
	addr     string
	ln       net.Listener
	srv      *http.Server
	mode     Mode
	rnd      *rand.Rand
	counts   proxyCounts
	serveErr error
}

// NewProxy listens on a free loopback port and forwards to upstream.
func NewProxy(upstream string, seed uint64) (*Proxy, error) {
	p := &Proxy{upstream: upstream, now: time.Now, mode: ModePass,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
		rnd:    rand.New(rand.NewPCG(seed, 0x5eed)),
		counts: proxyCounts{Forwarded: map[string]int{}, Answered: map[string]int{}, Faked: map[Mode]int{}, Unfinished: map[string]int{}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("chaos proxy: listen: %w", err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	return p, nil
}

// URL is the proxy's base URL.
func (p *Proxy) URL() string { return "http://" + p.addr }

func (p *Proxy) serve(ln net.Listener) {
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	p.ln, p.srv = ln, srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.mu.Lock()
			p.serveErr = err
			p.mu.Unlock()
		}
	}()
}

// SetMode switches the mode. Refuse closes the listener; leaving refuse
// listens again on the same address.
func (p *Proxy) SetMode(m Mode) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.mode
	p.mode = m
	switch {
	case m == ModeRefuse && old != ModeRefuse:
		_ = p.srv.Close()
		p.srv, p.ln = nil, nil
	case m != ModeRefuse && old == ModeRefuse:
		var ln net.Listener
		var err error
		for i := 0; i < 50; i++ { // the port may linger for a moment
			if ln, err = net.Listen("tcp", p.addr); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			p.mode = ModeRefuse
			return fmt.Errorf("chaos proxy: listen again on %s: %w", p.addr, err)
		}
		p.serve(ln)
	}
	return nil
}

// Mode is the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Counts returns a copy of the counts.
func (p *Proxy) Counts() proxyCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := proxyCounts{Forwarded: map[string]int{}, Answered: map[string]int{}, Faked: map[Mode]int{}, Unfinished: map[string]int{}}
	for k, v := range p.counts.Unfinished {
		c.Unfinished[k] = v
	}
	for k, v := range p.counts.Forwarded {
		c.Forwarded[k] = v
	}
	for k, v := range p.counts.Answered {
		c.Answered[k] = v
	}
	for k, v := range p.counts.Faked {
		c.Faked[k] = v
	}
	return c
}

// Close stops the proxy.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv != nil {
		_ = p.srv.Close()
	}
}

// pick decides what to do with one call: the mode, resolving flaky, and
// a random number for the mode's details.
func (p *Proxy) pick() (Mode, float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.mode
	if m == ModeFlaky {
		m = ModePass
		if p.rnd.Float64() < 0.3 {
			m = []Mode{ModeDrop, Mode429, Mode5xx, ModeCut}[p.rnd.IntN(4)]
		}
	}
	return m, p.rnd.Float64()
}

// unfinished counts a forwarded chat completion that was not relayed whole.
func (p *Proxy) unfinished(chat bool, why string) {
	if !chat {
		return
	}
	p.mu.Lock()
	p.counts.Unfinished[why]++
	p.mu.Unlock()
}

func (p *Proxy) fake(m Mode) {
	p.mu.Lock()
	p.counts.Faked[m]++
	p.mu.Unlock()
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	chat := r.Method == http.MethodPost && r.URL.Path == "/v1/chat/completions"
	m, x := p.pick()
	switch m {
	case ModeRefuse, ModeDrop: // refuse: a call accepted just before the listener closed
		p.fake(m)
		drop(w)
		return
	case Mode429:
		p.fake(m)
		w.Header().Set("Retry-After", fmt.Sprint(1+int(x*3)))
		openAIError(w, http.StatusTooManyRequests, "rate_limit_error", "Rate limit reached (chaos proxy).")
		return
	case Mode5xx:
		p.fake(m)
		status := []int{500, 502, 503}[int(x*3)%3]
		openAIError(w, status, "server_error", "The server had an error (chaos proxy).")
		return
	case ModeSlow:
		select {
		case <-time.After(time.Second + time.Duration(x*float64(6*time.Second))):
		case <-r.Context().Done():
			p.fake(m) // the daemon gave up first: cloudsim never saw it
			return
		}
	}
	p.forward(w, r, chat, m == ModeCut, x)
}

// forward sends the call to cloudsim and relays the answer, or, when cut,
// the first part of it and then a broken connection.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, chat, cut bool, x float64) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		drop(w)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		drop(w)
		return
	}
	req.Header = r.Header.Clone()
	// Counted once the request is on the wire to cloudsim: from then on the
	// provider has it (and bills it), whatever happens to the answer.
	var wrote atomic.Bool
	if chat {
		day := p.now().UTC().Format(time.DateOnly)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			WroteRequest: func(info httptrace.WroteRequestInfo) {
				if info.Err == nil && !wrote.Swap(true) {
					p.mu.Lock()
					p.counts.Forwarded[day]++
					p.mu.Unlock()
				}
			}}))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		why := "cloudsim failed"
		if r.Context().Err() != nil {
			why = "the daemon hung up before the answer"
		}
		if wrote.Load() {
			p.unfinished(chat, why)
		}
		drop(w)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	if cut {
		w.Header().Del("Content-Length")
	}
	w.WriteHeader(resp.StatusCode)
	fl, _ := w.(http.Flusher)
	limit := int64(-1)
	if cut {
		limit = 20 + int64(x*200) // a few bytes to a couple of SSE events
	}
	var sent int64
	buf := make([]byte, 4096)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if limit >= 0 && sent+int64(n) > limit {
				chunk = chunk[:max(limit-sent, 0)]
			}
			if _, werr := w.Write(chunk); werr != nil {
				p.unfinished(chat, "the daemon hung up mid-answer")
				return
			}
			sent += int64(len(chunk))
			if fl != nil {
				fl.Flush()
			}
			if limit >= 0 && sent >= limit {
				p.fake(ModeCut)
				p.unfinished(chat, "cut by the proxy")
				panic(http.ErrAbortHandler) // closes the connection mid-answer
			}
		}
		if rerr != nil {
			switch {
			case !errors.Is(rerr, io.EOF):
				why := "cloudsim broke off"
				if r.Context().Err() != nil {
					why = "the daemon hung up mid-answer"
				}
				p.unfinished(chat, why)
				panic(http.ErrAbortHandler)
			case chat && resp.StatusCode == http.StatusOK:
				p.mu.Lock()
				p.counts.Answered[p.now().UTC().Format(time.DateOnly)]++
				p.mu.Unlock()
			default:
				p.unfinished(chat, fmt.Sprintf("cloudsim answered %d", resp.StatusCode))
			}
			return
		}
	}
}

// drop closes the connection without a response.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func openAIError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"message":%q,"type":%q,"code":null,"param":null}}`+"\n", msg, typ)
}
