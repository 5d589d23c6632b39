package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"

	"github.com/edgecascade/edgecascade/configs"
)

// httpServer is the daemon's HTTP server with its limits: headers within
// 10 s, each request body within server.body_timeout (answers, streams
// above all, are not bounded), keep-alive connections closed after
// server.idle_timeout.
func httpServer(cfg configs.ServerConfig, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           withBodyDeadline(cfg.BodyTimeout, h),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       cfg.IdleTimeout,
	}
}

// limitListener serves at most server.max_connections connections at once;
// more wait in the kernel's accept queue until one closes.
func limitListener(ln net.Listener, cfg configs.ServerConfig) net.Listener {
	return netutil.LimitListener(ln, cfg.MaxConnections)
}

// withBodyDeadline bounds reading a request's body to d. http.Server's own
// ReadTimeout cannot be used: it stays on the connection while the handler
// runs, and when it expires during a long streamed answer the server cancels
// the request. Here the deadline is set only for a request that has a body,
// and lifted as soon as the body has been read to its end.
func withBodyDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
			next.ServeHTTP(w, r) // not a connection that has deadlines
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline once the body has been read whole.
type deadlineBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	lifted bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.lifted {
		b.lifted = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
