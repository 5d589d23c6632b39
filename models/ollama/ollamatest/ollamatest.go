// Package ollamatest starts a real `ollama serve` on a free loopback port with
// its own model folder and imports the test bed models, for tests and demos.
package ollamatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Names the test bed models get when imported.
const (
	Weak    = "tiny-weak"
	Strong  = "tiny-strong"
	SelfRef = "tiny-selfref"
	// WeakTools is the weak model with a chat template that renders tools
	// (it uses .Tools and .ToolCalls), so Ollama reports the "tools"
	// capability for it; the model itself is too small to call tools
	// sensibly: it checks the plumbing, not the model.
	WeakTools = "tiny-weak-tools"
)

// toolsTemplate is WeakTools' chat template: ChatML with the tools in a
// system turn and tool calls as JSON objects (Ollama then parses JSON
// objects the model writes as tool calls).
const toolsTemplate = `{{- if .Tools }}<|im_start|>system
Tools: {{ range .Tools }}{{ .Function.Name }} {{ end }}<|im_end|>
{{ end }}{{- range .Messages }}<|im_start|>{{ .Role }}
{{ if .ToolCalls }}{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}{{ end }}{{ else }}{{ .Content }}{{ end }}<|im_end|>
{{ end }}<|im_start|>assistant
`

// modelfiles maps a model name to its Modelfile in the test bed.
var modelfiles = map[string]string{
	Weak:    "Modelfile.weak",
	Strong:  "Modelfile.strong",
	SelfRef: "Modelfile.selfref",
	// WeakTools is Modelfile.weak with toolsTemplate (Import).
	WeakTools: "Modelfile.weak",
}

// Server is a running `ollama serve`.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234.
	URL  string
	Host string // host:port
	bin  string
	dir  string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	mu   sync.Mutex
}

// FindBinary locates the ollama binary: $EDGECASCADE_OLLAMA_BIN, PATH, then
// $(go env GOPATH)/bin/ollama (where scripts/install-ollama.sh puts it).
func FindBinary() (string, error) {
	if p := os.Getenv("EDGECASCADE_OLLAMA_BIN"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("ollama"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	if gopath != "" {
		p := filepath.Join(gopath, "bin", "ollama")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("ollama binary not found: run scripts/install-ollama.sh or set EDGECASCADE_OLLAMA_BIN")
}

// TestbedDir returns the project's copy of the test bed (testdata/testbed),
// found by walking up from the working directory to go.mod.
func TestbedDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "testbed"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testbed: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Start runs `ollama serve` in a new temporary model folder under dir, waits
// until it answers, and imports the named test bed models. Logs go to
// dir/ollama.log.
func Start(ctx context.Context, dir string, names ...string) (*Server, error) {
	bin, err := FindBinary()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	if err := s.Import(ctx, names...); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (s *Server) env() []string {
	return append(os.Environ(),
		"OLLAMA_HOST="+s.Host,
		"OLLAMA_MODELS="+filepath.Join(s.dir, "models"),
		"OLLAMA_NO_CLOUD=1",
		"OLLAMA_KEEP_ALIVE=1h",
		"OLLAMA_MAX_LOADED_MODELS=4",
		"HOME="+s.dir, // ollama keeps its key pair under $HOME/.ollama
	)
}

func (s *Server) start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Host == "" {
		host, err := freePort()
		if err != nil {
			return fmt.Errorf("ollamatest: free port: %w", err)
		}
		s.Host = host
		s.URL = "http://" + host
	}
	lf, err := os.OpenFile(filepath.Join(s.dir, "ollama.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("ollamatest: log file: %w", err)
	}
	cmd := exec.Command(s.bin, "serve")
	cmd.Env = s.env()
	// Its own process group, so that Stop also ends the model runners that
	// `ollama serve` starts as children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("ollamatest: start %s: %w", s.bin, err)
	}
	s.cmd, s.log, s.done = cmd, lf, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.done)

	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("ollamatest: ollama serve exited at start; see %s", lf.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(s.URL + "/api/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("ollamatest: ollama serve did not answer within 60s; see %s", lf.Name())
}

// Import creates the named test bed models from their Modelfiles.
func (s *Server) Import(ctx context.Context, names ...string) error {
	bed, err := TestbedDir()
	if err != nil {
		return err
	}
	for _, name := range names {
		mf, ok := modelfiles[name]
		if !ok {
			return fmt.Errorf("ollamatest: unknown test bed model %q", name)
		}
		// The test bed's Modelfile plus one thread: these models are tiny,
		// and llama.cpp's spinning worker threads slow everything down when
		// several runners share two cores.
		orig, err := os.ReadFile(filepath.Join(bed, "models", mf))
		if err != nil {
			return fmt.Errorf("ollamatest: %w", err)
		}
		tmp := filepath.Join(s.dir, "Modelfile."+name)
		body := strings.Replace(string(orig), "FROM ./", "FROM "+filepath.Join(bed, "models")+"/", 1) + "PARAMETER num_thread 1\n"
		if name == WeakTools {
			body = withTemplate(body, toolsTemplate)
		}
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			return fmt.Errorf("ollamatest: %w", err)
		}
		cmd := exec.CommandContext(ctx, s.bin, "create", name, "-f", tmp)
		cmd.Env = s.env()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ollamatest: ollama create %s: %w: %s", name, err, out)
		}
	}
	return nil
}

// withTemplate replaces a Modelfile's TEMPLATE """...""" with tmpl.
func withTemplate(modelfile, tmpl string) string {
	const open, end = `TEMPLATE """`, `"""`
	i := strings.Index(modelfile, open)
	if i < 0 {
		return modelfile + open + tmpl + end + "\n"
	}
	j := strings.Index(modelfile[i+len(open):], end)
	if j < 0 {
		return modelfile
	}
	return modelfile[:i] + open + tmpl + modelfile[i+len(open)+j:]
}

// Stop kills the server (like a crash) and waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
	s.log.Close()
	s.cmd = nil
}

// Restart starts the server again on the same port with the same models.
func (s *Server) Restart(ctx context.Context) error {
	s.Stop()
	return s.start(ctx)
}

// StartTemp starts a server in a new temporary folder, for a test package's
// TestMain or a demo. The returned cleanup stops it and removes the folder.
func StartTemp(names ...string) (*Server, func(), error) {
	dir, err := os.MkdirTemp("", "ollamatest-")
	if err != nil {
		return nil, func() {}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := Start(ctx, dir, names...)
	cleanup := func() {
		if s != nil {
			s.Stop()
		}
		os.RemoveAll(dir)
	}
	return s, cleanup, err
}

// New starts a server for one test and stops it when the test ends. It skips
// the test when the ollama binary is absent.
func New(t testing.TB, names ...string) *Server {
	t.Helper()
	if _, err := FindBinary(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := Start(ctx, t.TempDir(), names...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}
