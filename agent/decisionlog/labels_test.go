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

// Feedback on an answer of the cloud stage labels the cloud's answer,
// whatever the stage is named (cascade.stages); on any local stage's, the
// local answer; agreement labels are always the local answer's.
func TestFeedbackOnCloudStage(t *testing.T) {
	ctx := context.Background()
	l, err := Open(filepath.Join(t.TempDir(), "d.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []struct {
		entry     Entry
		source    string
		wantCloud bool
	}{
		{Entry{ID: "a", Route: "cloud", Cloud: true}, SourceFeedback, true},
		{Entry{ID: "b", Route: "frontier", Cloud: true}, SourceFeedback, true},
		{Entry{ID: "c", Route: "cloud"}, SourceFeedback, true}, // written before the cloud field
		{Entry{ID: "d", Route: "strong"}, SourceFeedback, false},
		{Entry{ID: "e", Route: "local"}, SourceFeedback, false},
		{Entry{ID: "f", Route: "frontier", Cloud: true}, SourceAgreement, false},
	} {
		l.Append(tc.entry)
		e, _, err := l.Label(ctx, tc.entry.ID, Label{Correct: true, Source: tc.source, Weight: 1}, false)
		if err != nil {
			t.Fatalf("%s: %v", tc.entry.ID, err)
		}
		if gotCloud := e.CloudLabel != nil && e.Label == nil; gotCloud != tc.wantCloud {
			t.Errorf("%s (route %s, cloud %v, %s): label %+v cloud_label %+v", tc.entry.ID, tc.entry.Route, tc.entry.Cloud, tc.source, e.Label, e.CloudLabel)
		}
	}
}
