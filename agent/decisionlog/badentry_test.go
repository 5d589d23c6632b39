package decisionlog

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 14 item 7: one entry that cannot be encoded (a NaN score) cost the
// whole batch it was written with (0 of 10 kept). Now the other entries are
// kept, and so is the bad one, without its non-finite numbers.
func TestBadEntryKeepsTheBatch(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "decisions.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	nan, inf := math.NaN(), math.Inf(1)
	var batch []Entry
	for i := range 10 {
		e := Entry{Policy: "auto", Reason: fmt.Sprint(i)}
		if i == 4 {
			e.Score, e.Confidence, e.Cost, e.Threshold = &nan, &inf, nan, inf
		}
		batch = append(batch, e)
	}
	if err := l.write(batch); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, err := l.Tail(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Fatalf("%d of 10 entries kept", len(got))
	}
	bad := got[4]
	if bad.Score != nil || bad.Confidence != nil || bad.Cost != 0 || bad.Threshold != 0 || !strings.HasPrefix(bad.Reason, "4") || !strings.Contains(bad.Reason, "not a finite number") {
		t.Fatalf("bad entry kept as %+v", bad)
	}
}
