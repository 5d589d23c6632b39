package main

import (
	"net/http"
	"net/http/pprof"
)

// withPprof serves Go's runtime profiles under /debug/pprof/ (heap,
// goroutine, allocs, CPU profile, trace) in front of h, for
// `go tool pprof http://127.0.0.1:PORT/debug/pprof/heap`. serve adds it only
// with server.pprof, which Validate allows only on a loopback address.
func withPprof(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // also every named profile: /debug/pprof/heap, …
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}
