package main

import (
	"encoding/json"
	"encoding/xml"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/uq/report"
)

// TestCalibrateThenEval is the calibration issue's integration test on the
// real test bed: calibrate the weak model, then evaluate with the strong
// model as the cloud, and check that the report's numbers agree.
func TestCalibrateThenEval(t *testing.T) {
	s := needBed(t)
	env := bedEnv(s)
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	calibPath := filepath.Join(dir, "calibration.json")
	if _, stderr, err := run(t, env, "calibrate", "--data", testbedFile(t, "calib.jsonl"), "--limit", "400", "--cache-dir", cache,
		"--out", calibPath, "--target-accuracy", "0.9"); err != nil {
		t.Fatalf("calibrate: %v\n%s", err, stderr)
	}
	out := filepath.Join(dir, "report")
	stdout, stderr, err := run(t, env, "eval", "--data", testbedFile(t, "val.jsonl"), "--limit", "200", "--cache-dir", cache,
		"--calibration", calibPath, "--out", out)
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "always-local") || !strings.Contains(stdout, "mean_logprob") {
		t.Fatalf("eval summary:\n%s", stdout)
	}

	raw, err := os.ReadFile(filepath.Join(out, report.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	g := rep.Overall
	if g.Records != 200 || g.CloudAccuracy == nil || g.OracleAccuracy == nil || len(g.Scorers) == 0 {
		t.Fatalf("report overall: %+v", g)
	}
	lo := min(g.LocalAccuracy, *g.CloudAccuracy)
	for _, sc := range g.Scorers {
		c := sc.Cascade
		if c == nil || sc.AUROC == nil {
			t.Fatalf("%s: no cascade or AUROC", sc.Name)
		}
		// The cascade sits between the worse baseline and the oracle.
		if c.Accuracy < lo-1e-9 || c.Accuracy > *g.OracleAccuracy+1e-9 {
			t.Errorf("%s: cascade accuracy %.3f outside [%.3f, oracle %.3f]", sc.Name, c.Accuracy, lo, *g.OracleAccuracy)
		}
		if math.Abs(c.CallRate-sc.CallRate) > 1e-9 || c.CallRate < 0 || c.CallRate > 1 {
			t.Errorf("%s: call rates disagree: %v vs %v", sc.Name, c.CallRate, sc.CallRate)
		}
		if *sc.AUROC < 0.8 {
			t.Errorf("%s: AUROC %.3f on the test bed, want > 0.8", sc.Name, *sc.AUROC)
		}
		if sc.Target == nil || *sc.Target != 0.9 {
			t.Errorf("%s: target %v, want 0.9", sc.Name, sc.Target)
		}
	}
	if *g.OracleAccuracy < max(g.LocalAccuracy, *g.CloudAccuracy) {
		t.Errorf("oracle %.3f below the better baseline", *g.OracleAccuracy)
	}
	if len(rep.Tasks) != 3 {
		t.Errorf("per-task breakdown has %d tasks, want 3", len(rep.Tasks))
	}

	for _, name := range []string{report.PlotAccuracy, report.PlotRiskCoverage, report.PlotReliability} {
		f, err := os.Open(filepath.Join(out, name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() < 100 {
			t.Fatalf("%s.png: %v", name, err)
		}
		svg, err := os.ReadFile(filepath.Join(out, name+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		var root struct{ XMLName xml.Name }
		if err := xml.Unmarshal(svg, &root); err != nil || root.XMLName.Local != "svg" {
			t.Fatalf("%s.svg: %v (root %q)", name, err, root.XMLName.Local)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, report.MarkdownFile))
	if err != nil || !strings.Contains(string(md), "AUROC") {
		t.Fatalf("report.md: %v", err)
	}
}
