package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// upstream is a cloudsim stand-in that answers every chat completion.
func upstream(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"choices":[{"message":{"role":"assistant","content":"` + strings.Repeat("Paris ", 100) + `"}}]}`))
	}))
	t.Cleanup(s.Close)
	return s
}

func post(p *Proxy) (*http.Response, string, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post(p.URL()+"/v1/chat/completions", "application/json", strings.NewReader(`{}`))
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestProxyModes(t *testing.T) {
	up := upstream(t)
	p, err := NewProxy(up.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	today := time.Now().UTC().Format(time.DateOnly)

	resp, body, err := post(p)
	if err != nil || resp.StatusCode != 200 || !strings.Contains(body, "Paris") {
		t.Fatalf("pass: %v %v", resp, err)
	}
	resp, _, err = post(p)
	if err != nil {
		t.Fatal(err)
	}

	must := func(m Mode) {
		t.Helper()
		if err := p.SetMode(m); err != nil {
			t.Fatal(err)
		}
	}
	must(Mode429)
	resp, body, err = post(p)
	if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "rate_limit_error") {
		t.Fatalf("429: %v %q %v", resp, body, err)
	}
	must(Mode5xx)
	if resp, _, err = post(p); err != nil || resp.StatusCode < 500 {
		t.Fatalf("5xx: %v %v", resp, err)
	}
	must(ModeDrop)
	if _, _, err = post(p); err == nil {
		t.Fatal("drop: want a transport error")
	}
	must(ModeCut)
	if _, _, err = post(p); err == nil {
		t.Fatal("cut: want the body cut short")
	}
	must(ModeRefuse)
	if _, _, err = post(p); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("refuse: want connection refused, got %v", err)
	}
	must(ModePass)
	if resp, _, err = post(p); err != nil || resp.StatusCode != 200 {
		t.Fatalf("pass after refuse: %v %v", resp, err)
	}

	// Forwarded: 2 pass, the cut one, 1 pass after refuse. The proxy counts
	// an answer once it has read the upstream's end, which may come just
	// after the client has the whole body: wait for it.
	c := p.Counts()
	for deadline := time.Now().Add(5 * time.Second); c.Answered[today] < 3 && time.Now().Before(deadline); c = p.Counts() {
		time.Sleep(10 * time.Millisecond)
	}
	if c.Forwarded[today] != 4 || c.Answered[today] != 3 {
		t.Fatalf("forwarded %v, answered %v; want 4 and 3", c.Forwarded, c.Answered)
	}
	if c.Faked[Mode429] != 1 || c.Faked[Mode5xx] != 1 || c.Faked[ModeDrop] != 1 || c.Faked[ModeCut] != 1 {
		t.Fatalf("faked = %v", c.Faked)
	}
	if c.Unfinished["cut by the proxy"] != 1 || len(c.Unfinished) != 1 {
		t.Fatalf("unfinished = %v", c.Unfinished)
	}
}

func TestProxyFlakyFailsSome(t *testing.T) {
	up := upstream(t)
	p, err := NewProxy(up.URL, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SetMode(ModeFlaky); err != nil {
		t.Fatal(err)
	}
	ok := 0
	for i := 0; i < 60; i++ {
		if resp, _, err := post(p); err == nil && resp.StatusCode == 200 {
			ok++
		}
	}
	if ok < 25 || ok > 57 {
		t.Fatalf("%d of 60 passed under flaky (30%% fail), want about 42", ok)
	}
}
