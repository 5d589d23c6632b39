package decisionlog

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWriteErrOnFullDisk fills a real file system (a 1 MiB tmpfs: root
// writes through permissions, not through a full disk) under the log: a
// failed write is reported by WriteErr until a write succeeds again.
func TestWriteErrOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot mount a tmpfs here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	l, err := Open(filepath.Join(dir, "decisions.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.WriteErr(); err != nil {
		t.Fatalf("fresh log: %v", err)
	}
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for buf := make([]byte, 4096); ; {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()

	// bbolt rewrites pages the file already has: the first commits on a
	// full disk may succeed. Each Append is one commit once the writer is idle.
	count := func() int {
		e, err := l.Tail(context.Background(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(e)
	}
	for i := 0; l.WriteErr() == nil; i++ {
		if i == 100 {
			t.Fatal("100 entries on a full disk and no write error")
		}
		before := count()
		l.Append(Entry{Reason: strings.Repeat("x", 500)})
		waitUntil(t, func() bool { return count() > before || l.WriteErr() != nil })
	}
	if err := l.WriteErr(); !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "decision log write failed") {
		t.Fatalf("WriteErr = %v, want ENOSPC", err)
	}
	kept := count()

	os.Remove(filler)
	l.Append(Entry{Reason: "after"})
	waitUntil(t, func() bool { return l.WriteErr() == nil })
	if n := count(); n != kept+1 {
		t.Fatalf("%d entries after freeing space, want %d", n, kept+1)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
