//go:build !llamacpp

package main

import (
	"context"
	"errors"

	"github.com/edgecascade/edgecascade/configs"
	"github.com/edgecascade/edgecascade/models"
)

// engineBuilt says whether this binary has the in-process engine.
const engineBuilt = false

// errNoEngine is what local.backend llamacpp gives in a binary built
// without the in-process engine (the default build needs no cgo for llama.cpp).
var errNoEngine = errors.New("local.backend llamacpp: this edgecascade binary was built without the in-process llama.cpp engine; " +
	"rebuild it with `go build -tags llamacpp ./cmd/edgecascade` (cgo and a C++ compiler; see the README's Backends section), " +
	"or use local.backend ollama or llamacpp-server")

// openEngine is the in-process llama.cpp engine; this build has none.
func openEngine(context.Context, *configs.Config) (models.Model, error) {
	return nil, errNoEngine
}
