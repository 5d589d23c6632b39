package decisionlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestAppendTailExport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.db")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		l.Append(Entry{Time: time.Unix(int64(i), 0).UTC(), Policy: "auto", Route: "local", Reason: fmt.Sprint(i)})
	}
	if err := l.Close(); err != nil { // flushes the queue
		t.Fatal(err)
	}
	l.Append(Entry{Reason: "after close"}) // ignored, no panic

	r, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tail, err := r.Tail(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(tail) != 3 || tail[0].Reason != "47" || tail[2].Reason != "49" {
		t.Fatalf("tail = %+v", tail)
	}
	var buf bytes.Buffer
	n, err := r.Export(context.Background(), &buf)
	if err != nil || n != 50 {
		t.Fatalf("export n=%d err=%v", n, err)
	}
	sc := bufio.NewScanner(&buf)
	for i := 0; sc.Scan(); i++ {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Reason != fmt.Sprint(i) {
			t.Fatalf("line %d: %s (%v)", i, sc.Text(), err)
		}
	}
}

func TestReopenAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.db")
	for round := range 2 {
		l, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		l.Append(Entry{Reason: fmt.Sprint(round)})
		l.Close()
	}
	r, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	all, _ := r.Tail(context.Background(), 10)
	if len(all) != 2 || all[0].Reason != "0" || all[1].Reason != "1" {
		t.Fatalf("after reopen: %+v", all)
	}
}

// TestRetention (issue 14 item 9): the log keeps at most MaxEntries
// entries, the newest, and none older than MaxAge; the writer trims it as
// it writes.
func TestRetention(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		maxAge     time.Duration
		maxEntries int
		want       []string // reasons kept, oldest first
	}{
		{"entries", 0, 3, []string{"r7", "r8", "r9"}},
		{"age", 5 * time.Hour, 0, []string{"r4", "r5", "r6", "r7", "r8", "r9"}}, // r4 is exactly 5h old: not older
		{"both", 5 * time.Hour, 2, []string{"r8", "r9"}},
		{"none", 0, 0, []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Open(filepath.Join(t.TempDir(), "d.db"), Options{MaxAge: tc.maxAge, MaxEntries: tc.maxEntries, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			// Entry i is 9-i hours old.
			for i := 0; i < 10; i++ {
				if err := l.write([]Entry{{Time: now.Add(-time.Duration(9-i) * time.Hour), Reason: fmt.Sprintf("r%d", i)}}); err != nil {
					t.Fatal(err)
				}
			}
			l.maybeTrim()
			got, err := l.Tail(context.Background(), 100)
			if err != nil {
				t.Fatal(err)
			}
			var reasons []string
			for _, e := range got {
				reasons = append(reasons, e.Reason)
			}
			if !slices.Equal(reasons, tc.want) {
				t.Fatalf("kept %v, want %v", reasons, tc.want)
			}
		})
	}
}
