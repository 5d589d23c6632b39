//go:build !llamacpp

package main

import (
	"strings"
	"testing"
)

// Without -tags llamacpp the in-process engine is absent: asking for it
// must say how to get it, not fail obscurely.
func TestLocalBackendLlamaCppNeedsTag(t *testing.T) {
	env := map[string]string{
		"EDGECASCADE_LOCAL_BACKEND":       "llamacpp",
		"EDGECASCADE_LOCAL_MODEL":         testbedModel(t, "weak.gguf"),
		"EDGECASCADE_LOCAL_CHAT_TEMPLATE": "chatml",
	}
	_, _, err := run(t, env, "ask", "--policy", "local", "Spell rmzf backwards.")
	if err == nil || !strings.Contains(err.Error(), "-tags llamacpp") || !strings.Contains(err.Error(), "local.backend llamacpp") {
		t.Fatalf("ask with local.backend llamacpp in a build without the engine: %v; want an error saying to rebuild with -tags llamacpp", err)
	}
	// The configuration itself is valid: only this build lacks the engine.
	out, _, err := run(t, env, "config")
	if err != nil || !strings.Contains(out, "configuration is valid") {
		t.Fatalf("config: %q, %v", out, err)
	}
}
