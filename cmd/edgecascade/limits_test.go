package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/configs"
)

// serveLimited serves h behind the daemon's limits on a loopback port.
func serveLimited(t *testing.T, cfg configs.ServerConfig, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httpServer(cfg, h)
	go func() { _ = srv.Serve(limitListener(ln, cfg)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TestBodyTimeout: a client that sends its body too slowly is cut off, but a
// long answer (streamed after the body, or to a request without one) is not.
func TestBodyTimeout(t *testing.T) {
	cfg := configs.ServerConfig{BodyTimeout: 300 * time.Millisecond, IdleTimeout: time.Minute, MaxConnections: 8}
	// The handler reads the body, then streams for several body timeouts,
	// and reports whether its request was canceled meanwhile.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusRequestTimeout)
			return
		}
		for i := 0; i < 5; i++ {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			fmt.Fprintf(w, "chunk %d\n", i)
			w.(http.Flusher).Flush()
		}
		fmt.Fprintln(w, "end")
	})
	addr := serveLimited(t, cfg, h)

	cases := []struct {
		name, method, body string
		slow               bool // send the body's second half after a long pause
		want               string
	}{
		{"stream after a body", "POST", `{"q":1}`, false, "end"},
		{"stream without a body", "GET", "", false, "end"},
		{"slow body", "POST", `{"q":1}`, true, "408"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// A bound on the whole exchange: a hang fails the test.
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			head := fmt.Sprintf("%s / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", tc.method)
			if tc.method == "POST" {
				head += fmt.Sprintf("Content-Length: %d\r\n", len(tc.body))
			}
			if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
				t.Fatal(err)
			}
			if tc.body != "" {
				half := len(tc.body) / 2
				_, _ = io.WriteString(conn, tc.body[:half])
				if tc.slow {
					time.Sleep(4 * cfg.BodyTimeout)
				}
				_, _ = io.WriteString(conn, tc.body[half:])
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			got := strings.TrimSpace(string(body))
			if tc.want == "408" {
				if resp.StatusCode != http.StatusRequestTimeout {
					t.Fatalf("status %d (%q), want 408: the slow body was not cut off", resp.StatusCode, got)
				}
				return
			}
			if resp.StatusCode != http.StatusOK || !strings.HasSuffix(got, "end") {
				t.Fatalf("status %d, body %q: the answer was cut", resp.StatusCode, got)
			}
		})
	}
}

// TestMaxConnections: beyond server.max_connections a connection waits
// until one closes.
func TestMaxConnections(t *testing.T) {
	cfg := configs.ServerConfig{BodyTimeout: time.Second, IdleTimeout: time.Minute, MaxConnections: 1}
	addr := serveLimited(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	get := func(c *http.Client) error {
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	first := &http.Client{Transport: &http.Transport{}} // keeps its connection alive
	if err := get(first); err != nil {
		t.Fatal(err)
	}
	second := &http.Client{Transport: &http.Transport{}, Timeout: 500 * time.Millisecond}
	if err := get(second); err == nil {
		t.Fatal("a second connection was served while the first held the only slot")
	}
	first.CloseIdleConnections()
	second.Timeout = 10 * time.Second
	if err := get(second); err != nil {
		t.Fatalf("after the first connection closed: %v", err)
	}
}
