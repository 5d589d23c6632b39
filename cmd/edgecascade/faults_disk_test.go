package main

// Disk faults of the data folder (the decision log, log.decisions on). The
// tests run as root here, and root writes through file permissions, so a
// read-only or full data folder is a real file system mounted for the test:
// tmpfs mounted read-only (EROFS, which root cannot write through either), or
// a small tmpfs filled up (ENOSPC). When mount is not permitted the case is
// skipped and says so. A data folder under a regular file (ENOTDIR) needs no
// mount.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs with the given options on a new folder and
// unmounts it when the test ends; it skips the case when mounting fails.
func mountTmpfs(t *testing.T, fx *faultFixtures, opts string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput()
	if err != nil {
		fx.skipFault(t, "cannot mount a tmpfs here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file until the file system under dir is full and
// returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return path
			}
			t.Fatalf("fill %s: %v", dir, err)
		}
	}
}

// serveToExit runs `edgecascade serve` expecting it to stop at start; it
// returns the exit code and the output.
func serveToExit(t *testing.T, env map[string]string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "serve", "--listen", "127.0.0.1:0")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if strings.Contains(out.String(), "listening on") {
		t.Fatalf("serve started:\n%s", out.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("serve: %v\n%s", err, out.String())
	}
	return ee.ExitCode(), out.String()
}

// startError is the last line of a failed start (the "edgecascade: ..." error).
func startError(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

func diskStartCase(name, fault string, prepare func(t *testing.T, fx *faultFixtures) (dataDir, tmp string), frags ...string) faultCase {
	return faultCase{
		name: name, fault: fault,
		expected: "`serve` exits 1 at start with an error naming `data_dir`, the path and the cause, and how to fix it",
		run: func(t *testing.T, fx *faultFixtures) string {
			s := needBed(t)
			dataDir, tmp := prepare(t, fx)
			env := bedEnv(s)
			env["EDGECASCADE_DATA_DIR"] = dataDir
			code, out := serveToExit(t, env)
			msg := startError(out)
			if code != 1 {
				t.Fatalf("exit code %d, want 1:\n%s", code, out)
			}
			mustContain(t, "start error", msg, append([]string{"data_dir", dataDir, "set data_dir to a writable folder"}, frags...)...)
			return fmt.Sprintf("exit %d: %s", code, normalize(msg, tmp))
		},
	}
}

func diskFaultCases() []faultCase {
	return []faultCase{
		diskStartCase("disk/read-only/start", "disk: data folder on a read-only file system (tmpfs mounted ro)",
			func(t *testing.T, fx *faultFixtures) (string, string) {
				dir := mountTmpfs(t, fx, "ro,size=1m")
				return dir, filepath.Dir(dir)
			}, "read-only file system"),
		diskStartCase("disk/not-a-directory/start", "disk: data folder under a regular file",
			func(t *testing.T, fx *faultFixtures) (string, string) {
				tmp := t.TempDir()
				file := filepath.Join(tmp, "file")
				if err := os.WriteFile(file, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(file, "data"), tmp
			}, "not a directory"),
		diskStartCase("disk/full/start", "disk: data folder on a full file system (64 KiB tmpfs, filled)",
			func(t *testing.T, fx *faultFixtures) (string, string) {
				dir := mountTmpfs(t, fx, "size=64k")
				fillDisk(t, dir)
				return dir, filepath.Dir(dir)
			}, "no space left on device"),
		{
			name: "disk/full/while-serving", fault: "disk: data folder fills up while serving (1 MiB tmpfs)",
			expected: "requests are still answered; the failed write is logged as an error and `/healthz` reports the decision log `degraded`; once space is free, decisions are logged again",
			run:      runDiskFullWhileServing,
		},
	}
}

func runDiskFullWhileServing(t *testing.T, fx *faultFixtures) string {
	s := needBed(t)
	dir := mountTmpfs(t, fx, "size=1m")
	env := bedEnv(s)
	env["EDGECASCADE_DATA_DIR"] = dir
	env["EDGECASCADE_CASCADE_THRESHOLD"] = "0.5"
	d := startServe(t, env)
	filler := fillDisk(t, dir)

	// bbolt rewrites pages the file already has, so the first few commits
	// on a full disk may still succeed; keep asking until one fails.
	const logged = "decision log write failed"
	for i := 0; !strings.Contains(d.logs.String(), logged); i++ {
		if i == 40 {
			t.Fatalf("40 answers on a full disk and no write failure logged:\n%s", d.logs)
		}
		o := postChat(t, d.url, "local", false)
		if o.err != nil || o.status != http.StatusOK {
			t.Fatalf("request on a full disk: %v status %d body %s", o.err, o.status, o.body)
		}
		time.Sleep(20 * time.Millisecond) // let the background writer commit
	}
	line := logLine(d.logs.String(), logged)
	mustContain(t, "log line", line, "level=ERROR", "no space left on device")
	h := getHealth(t, d.url)
	if h.status != http.StatusOK || h.Status != "degraded" || h.Decisions == nil || h.Decisions.OK ||
		!strings.Contains(h.Decisions.Error, "no space left on device") {
		t.Fatalf("/healthz while the decision log cannot write: %d %+v", h.status, h)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	before := countDecisions(t, d.url)
	if o := postChat(t, d.url, "local", false); o.status != http.StatusOK {
		t.Fatalf("request after freeing space: status %d body %s", o.status, o.body)
	}
	waitFor(t, func() bool { return countDecisions(t, d.url) == before+1 })
	hAfter := getHealth(t, d.url)
	if hAfter.Status != "ok" || hAfter.Decisions == nil || !hAfter.Decisions.OK {
		t.Fatalf("/healthz after freeing space: %+v", hAfter)
	}
	return fmt.Sprintf("every request 200 while full; log: %s; /healthz %d %s, decisions.ok false (%s); after freeing space the next decision is logged, /healthz %s",
		entriesRE.ReplaceAllString(normalize(line, dir), "entries=N"), h.status, h.Status, normalize(h.Decisions.Error, dir), hAfter.Status)
}

var entriesRE = regexp.MustCompile(`entries=\d+`)

// logLine is the first line of logs containing s, without its time.
func logLine(logs, s string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, s) {
			if i := strings.Index(l, " level="); i >= 0 {
				return l[i+1:]
			}
			return l
		}
	}
	return ""
}

// countDecisions counts the decisions the running daemon has logged.
func countDecisions(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/v1/cascade/decisions/export")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}
