// Package llamaengine is the in-process llama.cpp backend: it loads a GGUF
// file into this process through cgo (the Go package
// github.com/ollama/ollama/llama, llama.cpp as vendored by Ollama v0.17.4)
// and generates with per-token log probabilities and top-k alternatives
// (log-softmax of the raw logits, the same numbers Ollama returns), streams,
// scores a supplied answer (ScoreAnswer) and gives final-layer hidden states
// as probe features.
//
// Everything but this file is behind the build tag llamacpp, so the default
// build of edgecascade needs no C++ toolchain:
//
//	CGO_CPPFLAGS=-I$(go env GOPATH)/ollama-include go build -tags llamacpp ./cmd/edgecascade
//
// (the include folder holds the headers scripts/install-ollama.sh installs;
// compiling llama.cpp takes a few minutes the first time).
//
// One engine holds one model and one llama.cpp context; requests take turns
// on it (a queue that honours each request's context), and Close frees the
// C memory.
package llamaengine
