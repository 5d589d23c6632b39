// Command withbed runs a command with a real Ollama serving the test bed
// models: it starts `ollama serve` on a free loopback port with its own model
// folder, imports the weak, strong and selfref models, runs the command with
// EDGECASCADE_* variables pointing at them (weak = local, strong = cloud
// through Ollama's OpenAI-compatible API), and stops Ollama afterwards.
//
// Usage: go run ./scripts/withbed -- COMMAND [ARGS...]
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: withbed -- COMMAND [ARGS...]")
		os.Exit(2)
	}
	os.Exit(run(args))
}

func run(args []string) int {
	fmt.Fprintln(os.Stderr, "withbed: starting Ollama with the test bed models...")
	srv, cleanup, err := ollamatest.StartTemp(ollamatest.Weak, ollamatest.Strong, ollamatest.SelfRef)
	defer cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "withbed:", err)
		return 1
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"EDGECASCADE_LOCAL_URL="+srv.URL,
		"EDGECASCADE_LOCAL_MODEL="+ollamatest.Weak,
		"EDGECASCADE_CLOUD_BASE_URL="+srv.URL+"/v1",
		"EDGECASCADE_CLOUD_MODEL="+ollamatest.Strong,
		"OLLAMA_HOST="+srv.Host,
	)
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "withbed:", err)
		return 1
	}
	return 0
}
