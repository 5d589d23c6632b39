package labelled

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/uq/calib"
)

func TestMatchers(t *testing.T) {
	tests := []struct {
		matcher, answer, expected string
		want                      bool
	}{
		{MatchExact, " fzmr\n", "fzmr", true},
		{MatchExact, "Fzmr", "fzmr", false},
		{MatchCaseInsensitive, "Tupel ", "tupel", true},
		{MatchCaseInsensitive, "Tupelo", "tupel", false},
		{MatchNumeric, "8110", "8110.0", true},
		{MatchNumeric, " -3 ", "-3", true},
		{MatchNumeric, "8111", "8110", false},
		{MatchNumeric, "eight", "8", false},
		{MatchContains, "The capital is Tupel.", "tupel", true},
		{MatchContains, "Tup", "tupel", false},
	}
	for _, tc := range tests {
		m, err := NewMatcher(tc.matcher)
		if err != nil {
			t.Fatal(err)
		}
		if got := m(tc.answer, tc.expected); got != tc.want {
			t.Errorf("%s(%q, %q) = %v, want %v", tc.matcher, tc.answer, tc.expected, got, tc.want)
		}
	}
	if _, err := NewMatcher("fuzzy"); err == nil {
		t.Fatal("unknown matcher accepted")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.jsonl", `{"task":"reverse","prompt":"Spell ab backwards.","answer":"ba"}`+"\n\n"+`{"prompt":"q2","answer":"a2"}`+"\n")
	items, hash, err := Load(good)
	if err != nil || len(items) != 2 || items[0].Task != "reverse" || len(hash) != 64 {
		t.Fatalf("Load = %+v, %q, %v", items, hash, err)
	}
	for name, body := range map[string]string{
		"badline.jsonl":   `{"prompt":"q","answer":"a"}` + "\n{oops\n",
		"noprompt.jsonl":  `{"answer":"a"}`,
		"empty.jsonl":     "\n\n",
		"wrongtype.jsonl": `{"prompt": 3, "answer": "a"}`,
	} {
		if _, _, err := Load(write(name, body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := Load(write("badline2.jsonl", `{"prompt":"q","answer":"a"}`+"\n{oops\n")); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("error does not name line 2: %v", err)
	}
}

func TestCacheSurvivesTornTail(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir, "x")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a", "b"} {
		if err := c.Put(p, map[string]string{"answer": p + "!"}); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	// An interrupted write leaves half a line.
	f, err := os.OpenFile(c.Path(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"key":"abc","answer":{"ans`)
	f.Close()

	c, err = OpenCache(dir, "x")
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 2 {
		t.Fatalf("Len = %d after torn tail, want 2", c.Len())
	}
	if err := c.Put("c", map[string]string{"answer": "c!"}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c, err = OpenCache(dir, "x")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range []string{"a", "b", "c"} {
		var v map[string]string
		if !c.Get(p, &v) || v["answer"] != p+"!" {
			t.Fatalf("Get(%q) = %v", p, v)
		}
	}
	if c.Get("d", new(map[string]string)) {
		t.Fatal("Get of a missing prompt succeeded")
	}
}

func TestCalibrate(t *testing.T) {
	// Scorer "good" separates right from wrong; "bad" is constant.
	var recs []Record
	for i := range 400 {
		ok := i%2 == 0
		s := 0.2
		if ok {
			s = 0.9
		}
		recs = append(recs, Record{Index: i, LocalCorrect: ok, Scores: map[string]float64{"good": s, "bad": 0.5}})
	}
	spec := Spec{Method: calib.MethodTargetAccuracy, Params: calib.Params{TargetAccuracy: 0.95, Delta: 0.1}}
	f, err := Calibrate(recs, []string{"good", "bad"}, "good", spec, Meta{LocalModel: "m"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if th := f.Scorers["good"].Threshold; th == nil || *th != 0.9 {
		t.Fatalf("good threshold = %v, want 0.9", th)
	}
	if f.Scorers["bad"].Threshold != nil || f.Scorers["bad"].Error == "" {
		t.Fatalf("bad scorer should have no threshold and a reason: %+v", f.Scorers["bad"])
	}
	if f.Items != 400 || f.Correct != 200 || f.Version != calib.FileVersion {
		t.Fatalf("counts: %+v", f)
	}
	// The primary scorer failing is an error, never a threshold.
	_, err = Calibrate(recs, []string{"good", "bad"}, "bad", spec, Meta{LocalModel: "m"}, time.Now())
	if !errors.Is(err, calib.ErrNotCertifiable) {
		t.Fatalf("uncertifiable primary: err = %v", err)
	}
	// File round trip.
	p := filepath.Join(t.TempDir(), "c.json")
	if err := f.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	g, err := calib.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	fit, err := g.Fit("good")
	if err != nil || *fit.Threshold != 0.9 || fit.Map.Predict(0.9) < 0.99 || fit.Map.Predict(0.2) > 0.01 {
		t.Fatalf("round trip fit = %+v, %v", fit, err)
	}
	if _, err := g.Fit("bad"); err == nil {
		t.Fatal("Fit of a scorer without threshold succeeded")
	}
}
