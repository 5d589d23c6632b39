package main

// The processes the soak starts: cloudsim and `edgecascade serve`, and the
// small tmpfs that holds the daemon's data folder.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a started child process in its own process group.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's result, after done
}

func startProc(cmd *exec.Cmd) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// kill sends SIGKILL to the process group and waits for the exit.
func (p *proc) kill() {
	if p == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// waitLine reads r until a line containing prefix, returning the rest of
// that line; every line is copied to log.
func waitLine(ctx context.Context, r io.Reader, log io.Writer, prefix string, within time.Duration) (string, error) {
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(log, line)
			if i := strings.Index(line, prefix); i >= 0 && !sent {
				found <- strings.Fields(line[i+len(prefix):] + " ")[0]
				sent = true
			}
		}
		close(found)
	}()
	select {
	case s, ok := <-found:
		if !ok {
			return "", fmt.Errorf("exited before printing %q", prefix)
		}
		return s, nil
	case <-time.After(within):
		return "", fmt.Errorf("did not print %q within %s", prefix, within)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// startCloudsim runs cloudsim on a free loopback port.
func startCloudsim(ctx context.Context, bin, data, logPath string) (*proc, string, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(bin, "-data", data, "-listen", "127.0.0.1:0", "-latency", "40ms", "-chunk-delay", "2ms")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = lf
	p, err := startProc(cmd)
	if err != nil {
		return nil, "", fmt.Errorf("start cloudsim: %w", err)
	}
	url, err := waitLine(ctx, out, lf, "listening on ", 30*time.Second)
	if err != nil {
		p.kill()
		return nil, "", fmt.Errorf("cloudsim: %w (see %s)", err, logPath)
	}
	return p, url, nil
}

// Daemon is `edgecascade serve`, killed and restarted by the chaos loop on
// the same address with the same data folder.
type Daemon struct {
	Bin, Config, LogPath string
	Env                  []string

	mu   sync.Mutex
	p    *proc
	addr string // host:port, kept across restarts
	gen  int    // bumped before every kill, so requests can tell
	up   bool
	log  *os.File
}

// Start starts the daemon and waits for "listening on http://ADDR".
func (d *Daemon) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.log == nil {
		lf, err := os.OpenFile(d.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		d.log = lf
	}
	listen := d.addr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	var err error
	for try := 0; try < 20; try++ { // the port may still be taken for a moment after a kill
		if err = d.startOnce(ctx, listen); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
	return err
}

func (d *Daemon) startOnce(ctx context.Context, listen string) error {
	fmt.Fprintf(d.log, "=== soak: starting edgecascade serve --listen %s (%s)\n", listen, time.Now().UTC().Format(time.RFC3339))
	cmd := exec.Command(d.Bin, "serve", "--config", d.Config, "--listen", listen)
	cmd.Env = append(os.Environ(), d.Env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = d.log
	p, err := startProc(cmd)
	if err != nil {
		return fmt.Errorf("start %s: %w", d.Bin, err)
	}
	url, err := waitLine(ctx, out, d.log, "listening on http://", 60*time.Second)
	if err != nil {
		p.kill()
		return fmt.Errorf("edgecascade serve: %w (see %s)", err, d.LogPath)
	}
	d.p, d.addr, d.up = p, url, true
	return nil
}

// Base is the daemon's URL, its generation, and whether it is up.
func (d *Daemon) Base() (string, int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return "http://" + d.addr, d.gen, d.up
}

// Gen is the daemon's generation.
func (d *Daemon) Gen() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gen
}

// Kill sends SIGKILL (a crash).
func (d *Daemon) Kill() {
	d.mu.Lock()
	p := d.p
	d.gen++
	d.up, d.p = false, nil
	d.mu.Unlock()
	p.kill()
	if d.log != nil {
		fmt.Fprintf(d.log, "=== soak: kill -9 (%s)\n", time.Now().UTC().Format(time.RFC3339))
	}
}

// Signal sends sig to the daemon.
func (d *Daemon) Signal(sig syscall.Signal) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.p == nil {
		return errors.New("the daemon is not running")
	}
	return d.p.cmd.Process.Signal(sig)
}

// Stop sends SIGTERM and waits up to within for the exit; it returns the
// exit status (-1 when it had to be killed).
func (d *Daemon) Stop(within time.Duration) int {
	d.mu.Lock()
	p := d.p
	d.gen++
	d.up, d.p = false, nil
	d.mu.Unlock()
	if p == nil {
		return -1
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		p.kill()
		return -1
	}
}

// Close kills the daemon if it runs and closes its log.
func (d *Daemon) Close() {
	d.Kill()
	if d.log != nil {
		d.log.Close()
	}
}

// dataDir is the daemon's data folder: a small tmpfs when mounting works.
type dataDir struct {
	Path  string
	Tmpfs bool
	Why   string // why it is not a tmpfs
}

// unmountStale unmounts path if it is a mount point (left by a run that
// was killed before its cleanup).
func unmountStale(path string) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return
	}
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil || !strings.Contains(string(b), " "+abs+" ") {
		return
	}
	_ = exec.Command("umount", abs).Run()
}

func mountData(path, size string) *dataDir {
	d := &dataDir{Path: path}
	if err := os.MkdirAll(path, 0o755); err != nil {
		d.Why = err.Error()
		return d
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", path).CombinedOutput()
	if err != nil {
		d.Why = fmt.Sprintf("mount -t tmpfs: %v: %s", err, strings.TrimSpace(string(out)))
		return d
	}
	d.Tmpfs = true
	return d
}

func (d *dataDir) unmount() error {
	if !d.Tmpfs {
		return nil
	}
	out, err := exec.Command("umount", d.Path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("umount %s: %v: %s", d.Path, err, strings.TrimSpace(string(out)))
	}
	d.Tmpfs = false
	return nil
}

// fill writes a filler file until the tmpfs is full; it returns the bytes
// written. Only on a tmpfs: filling a real disk is never wanted.
func (d *dataDir) fill() (int64, error) {
	if !d.Tmpfs {
		return 0, errors.New("not a tmpfs: not filling it")
	}
	f, err := os.Create(filepath.Join(d.Path, "soak-filler"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := f.Write(buf)
		n += int64(k)
		if err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return n, nil
			}
			return n, err
		}
	}
}

// free removes the filler.
func (d *dataDir) free() error {
	err := os.Remove(filepath.Join(d.Path, "soak-filler"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// usage lists the data folder's files with their sizes.
func (d *dataDir) usage() string {
	entries, err := os.ReadDir(d.Path)
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && !e.IsDir() {
			parts = append(parts, fmt.Sprintf("%s %.1f MiB", e.Name(), float64(fi.Size())/(1<<20)))
		}
	}
	return strings.Join(parts, ", ")
}
