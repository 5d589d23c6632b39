package main

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

var (
	bed          *ollamatest.Server
	bedReason    error
	daemonBinary string // the edgecascade binary, built once
	benchBinary  string // this command, built once
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "edgecascade-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Routing in tests must not depend on this machine's battery or heat.
	os.Setenv("EDGECASCADE_RESOURCES_ENABLED", "false")
	daemonBinary, benchBinary = filepath.Join(dir, "edgecascade"), filepath.Join(dir, "edgecascade-bench")
	for bin, pkg := range map[string]string{daemonBinary: "../edgecascade", benchBinary: "."} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	if _, err := ollamatest.FindBinary(); err != nil {
		bedReason = err
		return m.Run()
	}
	s, cleanup, err := ollamatest.StartTemp(ollamatest.Weak)
	defer cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start ollama:", err)
		return 1
	}
	bed = s
	return m.Run()
}

func needBed(t *testing.T) *ollamatest.Server {
	t.Helper()
	if bed == nil {
		t.Skipf("skipping integration test: %v", bedReason)
	}
	return bed
}

// TestBench runs edgecascade-bench briefly against the real test bed and
// the edgecascade binary: every section is measured and the numbers are
// plausible.
func TestBench(t *testing.T) {
	s := needBed(t)
	out := filepath.Join(t.TempDir(), "bench.md")
	heap := filepath.Join(t.TempDir(), "heap.pb.gz")
	cmd := exec.Command(benchBinary, "--daemon", daemonBinary, "--n", "5", "--out", out, "--heap-profile", heap, "--local.url", s.URL, "--local.model", ollamatest.Weak)
	cmd.Env = append(os.Environ(), "EDGECASCADE_DATA_DIR="+t.TempDir())
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bench: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	rep := string(b)
	for _, re := range []string{
		`\*\*ratio\*\* \(goal ≤ 1.03\) \| \*\*[0-9.]+\*\*`,
		`whole HTTP handler: decode, route, score, encode \| [0-9.]+ \| [0-9]+ \|`,
		`(?m)^\| 64 \| [0-9]+ \|`,
		"`edgecascade serve` \\| idle, this binary as it is [^|]*\\| [0-9.]+ MB",
		"`edgecascade serve` \\| idle, installed copy of the binary \\| [0-9.]+ MB",
		"`edgecascade serve` \\| idle, installed copy, not in the page cache \\| [0-9.]+ MB",
		`\| binary: code \(\.text\) \| [0-9.]+ MB \| [0-9.]+ MB \| [0-9.]+ MB \|`,
		`\| github\.com/openai/openai-go \| [0-9.]+ MB \| [0-9.]+ MB \|`,
		`HeapInuse [0-9.]+ MB`,
	} {
		if !regexp.MustCompile(re).MatchString(rep) {
			t.Fatalf("bench report lacks %s:\n%s", re, rep)
		}
	}
	// The heap profile is pprof's gzipped protobuf.
	f, err := os.Open(heap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("heap profile: %v", err)
	}
	if b, err := io.ReadAll(zr); err != nil || len(b) < 100 {
		t.Fatalf("heap profile: %d bytes, %v", len(b), err)
	}
}

func TestSymbolPackage(t *testing.T) {
	tests := []struct{ sym, want string }{
		{"runtime.mallocgc", "runtime"},
		{"crypto/internal/fips140/drbg.memory", "crypto"},
		{"net/http.(*Server).Serve", "net"},
		{"github.com/openai/openai-go/v3/responses.(*ResponseService).New", "github.com/openai/openai-go"},
		{"type:*github.com/anthropics/anthropic-sdk-go/v2.Message", "github.com/anthropics/anthropic-sdk-go"},
		{"go:itab.*gonum.org/v1/plot/vg.Canvas,io.Writer", "gonum.org/v1/plot"},
		{"codeberg.org/go-fonts/liberation/liberationsansitalic..gobytes.1", "codeberg.org/go-fonts/liberation"},
		{"go:func.*", "go:func.* (closure and func metadata)"},
		{"slices.SortFunc[go.shape.int]", "slices"},
	}
	for _, tc := range tests {
		if got := symbolPackage(tc.sym); got != tc.want {
			t.Errorf("symbolPackage(%q) = %q, want %q", tc.sym, got, tc.want)
		}
	}
}

// TestDaemonBinary: the daemon measured is --daemon, else edgecascade next
// to this binary; a missing one is a clear error.
func TestDaemonBinary(t *testing.T) {
	if got, err := daemonBinaryPath(daemonBinary); err != nil || got != daemonBinary {
		t.Fatalf("--daemon %s: %q, %v", daemonBinary, got, err)
	}
	if _, err := daemonBinaryPath(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("a missing --daemon was accepted")
	}
}
