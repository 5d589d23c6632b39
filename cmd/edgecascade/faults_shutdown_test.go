package main

// Shutdown faults: SIGTERM while a request is in flight. The slow request is
// a policy-cloud request the fake cloud (openaitest, faults_cloud_test.go) holds until the
// test releases it, so the test knows the request is in flight without
// guessing at timings.

import (
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud/openai/openaitest"
)

// shutdownRun is a daemon with a held cloud request in flight.
type shutdownRun struct {
	d       *daemonProc
	fake    *openaitest.Server
	env     map[string]string
	result  chan chatOutcome
	exited  chan error
	dataDir string
}

func startShutdownRun(t *testing.T, shutdownTimeout string) *shutdownRun {
	t.Helper()
	s := needBed(t)
	f := newFakeCloud(t)
	f.Set(openaitest.Fault{Hold: true})
	env := cloudEnv(s, f.URL+"/v1")
	env["EDGECASCADE_CLOUD_TIMEOUT"] = "60s"
	env["EDGECASCADE_SERVER_SHUTDOWN_TIMEOUT"] = shutdownTimeout
	r := &shutdownRun{fake: f, env: env, result: make(chan chatOutcome, 1), exited: make(chan error, 1), dataDir: t.TempDir()}
	env["EDGECASCADE_DATA_DIR"] = r.dataDir
	r.d = startServe(t, env)
	go func() { r.result <- postChat(t, r.d.url, "cloud", false) }()
	select {
	case <-f.Arrived():
	case <-time.After(30 * time.Second):
		t.Fatal("the request did not reach the cloud")
	}
	if err := r.d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(r.d.logs.String(), "shutting down") })
	return r
}

// wait waits for the process to exit and returns its exit code.
func (r *shutdownRun) wait(t *testing.T) int {
	t.Helper()
	go func() { r.exited <- r.d.cmd.Wait() }()
	var err error
	select {
	case err = <-r.exited:
	case <-time.After(time.Minute):
		t.Fatalf("serve did not exit after SIGTERM:\n%s", r.d.logs)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		t.Fatal(err)
		return -1
	}
}

// decisionCount reads the stopped daemon's decision log file.
func (r *shutdownRun) decisionCount(t *testing.T) int {
	t.Helper()
	out, stderr, err := run(t, r.env, "log", "export", "--jsonl", "--listen", strings.TrimPrefix(r.d.url, "http://"))
	if err != nil {
		t.Fatalf("log export after exit: %v\n%s", err, stderr)
	}
	return strings.Count(out, "\n")
}

// lastLogLine is the last line of the output, without its time.
func lastLogLine(logs string) string {
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	l := lines[len(lines)-1]
	// The process's last word: its exit error, or the "stopped" line. A
	// handler cut at the deadline may log after it, so look for it.
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "edgecascade: ") || strings.Contains(lines[i], `msg=stopped`) {
			l = lines[i]
			break
		}
	}
	if i := strings.Index(l, " level="); i >= 0 {
		return l[i+1:]
	}
	return l
}

func shutdownFaultCases() []faultCase {
	return []faultCase{
		{
			name: "shutdown/sigterm-drains", fault: "shutdown: SIGTERM while a slow request is in flight (server.shutdown_timeout 30s)",
			expected: "new connections are refused; the in-flight request completes with 200; the process exits 0 and its decision is in the decision log",
			run: func(t *testing.T, fx *faultFixtures) string {
				r := startShutdownRun(t, "30s")
				_, err := http.Get(r.d.url + "/healthz")
				if err == nil || !strings.Contains(err.Error(), "connection refused") {
					t.Fatalf("a new connection during the drain: %v", err)
				}
				r.fake.Release()
				o := <-r.result
				if o.err != nil || o.status != http.StatusOK || o.content != fakeAnswer {
					t.Fatalf("in-flight request: %v status %d body %s", o.err, o.status, o.body)
				}
				code := r.wait(t)
				if code != 0 {
					t.Fatalf("exit code %d:\n%s", code, r.d.logs)
				}
				n := r.decisionCount(t)
				if n != 1 {
					t.Fatalf("%d decisions in the log after exit, want 1", n)
				}
				return fmt.Sprintf("new connection: connection refused; in-flight: %d route %s; exit %d (%s); %d decision in the log",
					o.status, str(o.cascade, "route"), code, lastLogLine(r.d.logs.String()), n)
			},
		},
		{
			name: "shutdown/deadline-passes", fault: "shutdown: SIGTERM while a request outlasts server.shutdown_timeout (500ms)",
			expected: "at the deadline the in-flight connection is closed and the process exits 1 naming `server.shutdown_timeout`; the decision log closes cleanly",
			run: func(t *testing.T, fx *faultFixtures) string {
				r := startShutdownRun(t, "500ms")
				code := r.wait(t)
				o := <-r.result
				if o.err == nil {
					t.Fatalf("the in-flight request got an answer: status %d body %s", o.status, o.body)
				}
				if code != 1 {
					t.Fatalf("exit code %d, want 1:\n%s", code, r.d.logs)
				}
				msg := lastLogLine(r.d.logs.String())
				mustContain(t, "exit error", msg, "server.shutdown_timeout 500ms", "cut")
				n := r.decisionCount(t)
				return fmt.Sprintf("in-flight: %s; exit %d: %s; decision log opens after exit (%d entries)", normalize(transportError(o.err)), code, msg, n)
			},
		},
		{
			name: "shutdown/second-signal", fault: "shutdown: a second SIGTERM during the drain",
			expected: "the drain stops at once: the in-flight connection is closed and the process exits 1 saying requests were cut",
			run: func(t *testing.T, fx *faultFixtures) string {
				r := startShutdownRun(t, "30s")
				if err := r.d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				code := r.wait(t)
				o := <-r.result
				if o.err == nil {
					t.Fatalf("the in-flight request got an answer: status %d body %s", o.status, o.body)
				}
				msg := lastLogLine(r.d.logs.String())
				if code != 1 {
					t.Fatalf("exit code %d, want 1:\n%s", code, r.d.logs)
				}
				mustContain(t, "exit error", msg, "second signal", "cut")
				return fmt.Sprintf("in-flight: %s; exit %d: %s", normalize(transportError(o.err)), code, msg)
			},
		},
	}
}

// transportError names how a client's request ended without an answer.
func transportError(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}
