package decisionlog

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// A label sent right after its entry is appended finds it (the writer
// applies labels after the entries queued before them); a trimmed entry's
// id is unknown.
func TestLabel(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l, err := Open(filepath.Join(t.TempDir(), "d.db"), Options{MaxEntries: 5, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 3 {
		l.Append(Entry{ID: fmt.Sprint("id", i), Reason: "r"})
	}
	yes := Label{Correct: true, Source: SourceFeedback, Weight: 1, Time: now}
	no := yes
	no.Correct = false
	e, changed, err := l.Label(ctx, "id2", yes, false)
	if err != nil || !changed || e.ID != "id2" || e.Label == nil || !e.Label.Correct {
		t.Fatalf("label: %+v %v %v", e, changed, err)
	}
	if _, changed, err := l.Label(ctx, "id2", yes, false); err != nil || changed {
		t.Fatalf("same label again: changed %v err %v", changed, err)
	}
	var ce *ConflictError
	if _, _, err := l.Label(ctx, "id2", no, false); !errors.As(err, &ce) || !ce.Existing.Correct {
		t.Fatalf("opposite label: %v", err)
	}
	if _, changed, err := l.Label(ctx, "id2", no, true); err != nil || !changed {
		t.Fatalf("replace: changed %v err %v", changed, err)
	}
	if got, err := l.Get(ctx, "id2"); err != nil || got.Label.Correct {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, _, err := l.Label(ctx, "nope", yes, false); !errors.Is(err, ErrUnknownID) {
		t.Fatalf("unknown id: %v", err)
	}
	// Trim the oldest: their ids go with them.
	for i := 3; i < 8; i++ {
		l.Append(Entry{ID: fmt.Sprint("id", i)})
	}
	if _, _, err := l.Label(ctx, "id7", yes, false); err != nil { // flushes the appends
		t.Fatal(err)
	}
	if _, err := l.Trim(now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Label(ctx, "id0", yes, false); !errors.Is(err, ErrUnknownID) {
		t.Fatalf("trimmed id: %v", err)
	}
	if _, err := l.Get(ctx, "id7"); err != nil {
		t.Fatal(err)
	}
}
