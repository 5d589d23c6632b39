package main

import (
	"io"
	"strings"
	"testing"
)

// TestUserArgs: the settings given to the bench reach the daemon as flags
// edgecascade parses back to the same values (typed flags, lists once per
// element).
func TestUserArgs(t *testing.T) {
	cmd := newRoot(io.Discard)
	if err := cmd.ParseFlags([]string{"--cascade.threshold", "0.45", "--local.timeout", "90s", "--offline",
		"--server.cors_origins", "http://a.test,http://b.test", "--n", "3"}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(userArgs(cmd, "c.yaml"), " ")
	for _, want := range []string{"--config c.yaml", "--cascade.threshold=0.45", "--local.timeout=1m30s", "--offline=true",
		"--server.cors_origins=http://a.test --server.cors_origins=http://b.test"} {
		if !strings.Contains(got, want) {
			t.Errorf("args %q lack %q", got, want)
		}
	}
	if strings.Contains(got, "--n") {
		t.Errorf("args %q carry a bench flag", got)
	}
}
