//go:build llamacpp

package main

import (
	"context"
	"os"

	"github.com/edgecascade/edgecascade/configs"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/llamaengine"
)

// engineBuilt says whether this binary has the in-process engine.
const engineBuilt = true

// openEngine loads local.model, a GGUF file, into the in-process llama.cpp
// engine (this binary was built with -tags llamacpp).
func openEngine(ctx context.Context, cfg *configs.Config) (models.Model, error) {
	e, err := llamaengine.Open(ctx, llamaengine.Config{
		Path:         cfg.Local.Model,
		ChatTemplate: cfg.Local.ChatTemplate,
		Timeout:      cfg.Local.Timeout,
		Log:          newLogger(os.Stderr, cfg),
	})
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return e, nil
}
