package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A data folder that cannot be a tmpfs is a plain folder, and the chaos
// loop never fills it (filling a real disk is never wanted).
func TestDataDirFallback(t *testing.T) {
	d := mountData(filepath.Join(t.TempDir(), "data"), "not-a-size")
	if d.Tmpfs {
		d.unmount()
		t.Skip("mount accepted a bogus size")
	}
	if d.Why == "" {
		t.Fatal("no reason given for the plain folder")
	}
	if _, err := d.fill(); err == nil {
		t.Fatal("fill on a plain folder: want a refusal")
	}
	if err := d.free(); err != nil {
		t.Fatalf("free without a filler: %v", err)
	}
	if err := os.WriteFile(filepath.Join(d.Path, "outbox.db"), make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if u := d.usage(); !strings.Contains(u, "outbox.db 3.0 MiB") {
		t.Fatalf("usage = %q", u)
	}
}
