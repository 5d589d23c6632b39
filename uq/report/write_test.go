package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/uq/calib"
)

func TestWriteDir(t *testing.T) {
	rows := synthetic(5, 500, 0.85)
	iso, err := calib.FitIsotonic(func() []calib.Sample {
		var s []calib.Sample
		for _, r := range rows {
			s = append(s, calib.Sample{Score: r.scores["good"], Correct: r.local})
		}
		return s
	}())
	if err != nil {
		t.Fatal(err)
	}
	noCloud := synthetic(6, 200, 0.85)
	for i := range noCloud {
		noCloud[i].cloud = nil
		noCloud[i].task = ""
	}
	oneClass := tenRows()
	for i := range oneClass {
		oneClass[i].local = true
	}
	tests := []struct {
		name   string
		in     Input
		inMD   []string
		tasks  int
		nested bool
	}{
		{
			name: "three scorers with tasks",
			in: testInput(rows,
				ScorerSetup{Name: "good", Threshold: 0.45, Calibrator: iso, Method: "target_accuracy", Target: 0.8, Delta: 0.05,
					Guarantee: "With probability at least 95%, at least 80% of accepted answers are right."},
				ScorerSetup{Name: "perfect", Threshold: 0.5, Method: "cost_tradeoff"},
				ScorerSetup{Name: "noise", Threshold: 0.5, Calibrator: calib.Platt{A: 0.1, B: 0.3}}),
			inMD: []string{"qwen2.5:0.5b", "gpt-4o-mini", "val.jsonl", "sha256:0123abcd", "2026-03-04 05:06:07 UTC",
				"| | good | perfect | noise |", "With probability at least 95%", "### Task code", "### Task math", "### Task trivia",
				"![Accuracy vs. cloud-call rate](accuracy_vs_call_rate.png)", "(risk_coverage.svg)", "(reliability.png)"},
			tasks: 3,
		},
		{
			name:   "no cloud labels into a new nested directory",
			in:     testInput(noCloud, ScorerSetup{Name: "good", Threshold: 0.5}),
			inMD:   []string{"no cloud labels", "| Always cloud | n/a | 100% |"},
			nested: true,
		},
		{
			name:  "one class",
			in:    testInput(oneClass, ScorerSetup{Name: "s", Threshold: 0.5}),
			inMD:  []string{"AUROC undefined", "| AUROC | n/a |"},
			tasks: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustBuild(t, tt.in)
			if len(r.Tasks) != tt.tasks {
				t.Fatalf("%d tasks, want %d", len(r.Tasks), tt.tasks)
			}
			dir := t.TempDir()
			if tt.nested {
				dir = filepath.Join(dir, "a", "b")
			}
			if err := r.WriteDir(dir); err != nil {
				t.Fatalf("WriteDir: %v", err)
			}
			checkFiles(t, dir)
			checkJSON(t, dir, r)
			md, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.inMD {
				if !strings.Contains(string(md), want) {
					t.Errorf("report.md lacks %q", want)
				}
			}
			if t.Failed() {
				t.Logf("report.md:\n%s", md)
			}
		})
	}
}

// checkFiles checks that every file exists and is non-empty, that the PNGs
// decode and the SVGs parse with an <svg> root, and that nothing else (no
// temporary file) is left in dir.
func checkFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := Files()
	if len(names) != len(want) {
		t.Errorf("dir holds %v, want %v", names, want)
	}
	for _, name := range want {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(b) == 0 {
			t.Errorf("%s is empty", name)
		}
		switch filepath.Ext(name) {
		case ".png":
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if bd := img.Bounds(); bd.Dx() < 100 || bd.Dy() < 100 {
				t.Errorf("%s is %v", name, bd)
			}
		case ".svg":
			if root, err := xmlRoot(b); err != nil || root != "svg" {
				t.Errorf("%s: root %q, err %v; want <svg>", name, root, err)
			}
		}
	}
}

// xmlRoot parses the whole document and returns its root element's name.
func xmlRoot(b []byte) (string, error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return root, nil
		}
		if err != nil {
			return "", err
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
}

// checkJSON checks that report.json has no NaN and decodes back to r.
func checkJSON(t *testing.T, dir string, r *Report) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("NaN")) || bytes.Contains(b, []byte("Inf")) {
		t.Error("report.json holds NaN or Inf")
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	if !reflect.DeepEqual(&back, r) {
		t.Error("report.json does not round-trip to the report")
	}
}

func TestMarkdownEscapes(t *testing.T) {
	in := testInput(tenRows(), ScorerSetup{Name: "s", Threshold: 0.5, Guarantee: "line one\nline two"})
	in.LocalModel = "a|b"
	r := mustBuild(t, in)
	md := r.Markdown()
	if !strings.Contains(md, `a\|b`) || strings.Contains(md, "line one\nline two") {
		t.Errorf("Markdown does not escape cells and line breaks:\n%s", md)
	}
}

func TestWriteDirFails(t *testing.T) {
	r := mustBuild(t, testInput(tenRows(), ScorerSetup{Name: "s", Threshold: 0.5}))
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteDir(filepath.Join(file, "out")); err == nil {
		t.Error("WriteDir under a regular file succeeded")
	}
}
