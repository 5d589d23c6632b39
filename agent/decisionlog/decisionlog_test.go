package decisionlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func TestAppendTailExport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.db")
	l, err := Open(path, nil)
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
		l, err := Open(path, nil)
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
