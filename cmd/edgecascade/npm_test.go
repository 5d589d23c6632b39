package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

// npmDir holds the npm clients' script, package.json and the lock file that
// pins them (testdata/npm/package-lock.json).
var npmDir = filepath.Join("testdata", "npm")

// TestNPMClients runs the official OpenAI JS SDK, the official ollama JS
// library and LangChain's ChatOpenAI (testdata/npm/clients.mjs), unmodified,
// against the real daemon on the test bed: chat, stream, JSON mode,
// logprobs, embeddings, legacy completions, raw generate, show, ps, and
// tools under policy local (a 400 naming tools: the test bed model has no
// tools capability). Node.js 20 or later, npm and the packages pinned by the
// lock file are required: without them the test fails, naming
// scripts/install-npm-clients.sh, which scripts/test.sh runs.
func TestNPMClients(t *testing.T) {
	out := runNPMScript(t, "clients.mjs", bedEnv(needBed(t)))
	for _, lib := range []string{"openai", "ollama", "langchain"} {
		for _, what := range []string{"chat", "stream", "json mode", "embed", "tools under local"} {
			if lib == "langchain" && what == "chat" {
				what = "invoke"
			}
			if !strings.Contains(out, "ok "+lib+" "+what) {
				t.Errorf("no %q check passed:\n%s", lib+" "+what, out)
			}
		}
	}
	for _, c := range []string{"ok ollama show", "ok ollama ps", "ok openai completions", "ok ollama generate raw"} {
		if !strings.Contains(out, c) {
			t.Errorf("no %q:\n%s", c, out)
		}
	}
}

// TestNPMClientsTools runs the three npm clients' tool requests under policy
// auto against a daemon whose local model reports no tools capability and
// whose cloud (the weak model with a tools template, through Ollama's /v1)
// takes them: each is answered by the cloud, the reason naming tools.
func TestNPMClientsTools(t *testing.T) {
	env := bedEnv(needBed(t))
	env["EDGECASCADE_CLOUD_MODEL"] = ollamatest.WeakTools
	out := runNPMScript(t, "tools.mjs", env)
	for _, c := range []string{"openai tools under auto", "openai tools stream under auto", "ollama tools under auto", "langchain tools under auto"} {
		if !strings.Contains(out, "ok "+c) {
			t.Errorf("no %q check passed:\n%s", c, out)
		}
	}
}

// runNPMScript starts the daemon with env and runs script (testdata/npm)
// against it with node, failing the test when it fails; it returns what the
// script printed.
func runNPMScript(t *testing.T, script string, env map[string]string) string {
	t.Helper()
	node := needNode(t)
	needNodeModules(t)
	d := startServe(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = npmDir
	cmd.Env = append(os.Environ(), "DAEMON_URL="+d.url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s\ndaemon log:\n%s", script, err, out, d.logs)
	}
	return string(out)
}

// needNode returns the path of node, 20 or later, failing the test (never
// skipping it) when it or npm is missing.
func needNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the npm client tests need Node.js 20 or later and npm (scripts/test.sh installs them: apt-get install nodejs npm)")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatal("npm is not installed: the npm client tests need it (scripts/test.sh installs it: apt-get install npm)")
	}
	v, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v", err)
	}
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(v)), "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < 20 {
		t.Fatalf("node %s is too old: the npm clients need Node.js 20 or later", strings.TrimSpace(string(v)))
	}
	return node
}

// needNodeModules fails the test unless the pinned packages are installed
// (npm ci, by scripts/install-npm-clients.sh) and newer than the lock file:
// the test itself talks only to 127.0.0.1, never to the npm registry.
func needNodeModules(t *testing.T) {
	t.Helper()
	lock, err := os.Stat(filepath.Join(npmDir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	mods, err := os.Stat(filepath.Join(npmDir, "node_modules", ".package-lock.json"))
	if err != nil || mods.ModTime().Before(lock.ModTime()) {
		t.Fatalf("the npm clients are not installed, or older than %s: run scripts/install-npm-clients.sh (npm ci; scripts/test.sh does)", filepath.Join(npmDir, "package-lock.json"))
	}
}
