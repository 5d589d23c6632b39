//go:build !noeval

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
		"--calibration", calibPath, "--out", out, "--cloud.cost_input_per_1k", "0.15", "--cloud.cost_output_per_1k", "0.6")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "always-local") || !strings.Contains(stdout, "mean_logprob") || !strings.Contains(stdout, "cloud cost per 1,000 queries") {
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
	checkEvalCosts(t, rep, 0.15, 0.6, 0)
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
	if err != nil || !strings.Contains(string(md), "AUROC") || !strings.Contains(string(md), "Cost per 1,000 queries") {
		t.Fatalf("report.md: %v", err)
	}

	// Without prices (all answers cached now): tokens only, and it says so.
	out2 := filepath.Join(dir, "report-unpriced")
	if _, stderr, err := run(t, env, "eval", "--data", testbedFile(t, "val.jsonl"), "--limit", "200", "--cache-dir", cache,
		"--calibration", calibPath, "--out", out2, "--cloud.cost_input_per_1k", "0", "--cloud.cost_output_per_1k", "0"); err != nil {
		t.Fatalf("eval without prices: %v\n%s", err, stderr)
	}
	unpriced := readReport(t, out2)
	checkEvalCosts(t, unpriced, 0, 0, 0)
	if md, _ := os.ReadFile(filepath.Join(out2, report.MarkdownFile)); !strings.Contains(string(md), "No cloud prices are configured") ||
		strings.Contains(string(md), "Cost per 1,000 queries") {
		t.Errorf("report.md without prices:\n%s", md)
	}

	// A cloud cache written before token counts were kept (no "usage"):
	// the counts are estimated, and the report says how many.
	stripUsage(t, cache)
	out3 := filepath.Join(dir, "report-old-cache")
	if _, stderr, err := run(t, env, "eval", "--data", testbedFile(t, "val.jsonl"), "--limit", "200", "--cache-dir", cache,
		"--calibration", calibPath, "--out", out3, "--cloud.cost_input_per_1k", "0.15", "--cloud.cost_output_per_1k", "0.6"); err != nil {
		t.Fatalf("eval on an old cache: %v\n%s", err, stderr)
	}
	old := readReport(t, out3)
	checkEvalCosts(t, old, 0.15, 0.6, 200)
	if !strings.Contains(strings.Join(old.Overall.Notes, " "), "estimated") {
		t.Errorf("notes do not say the counts are estimated: %q", old.Overall.Notes)
	}
}

func readReport(t *testing.T, dir string) report.Report {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, report.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// checkEvalCosts checks the report's cloud spending against its own token
// counts and call rates at the given prices (0, 0: none configured).
func checkEvalCosts(t *testing.T, rep report.Report, in, out float64, estimated int) {
	t.Helper()
	g := rep.Overall
	c := g.Costs
	if c == nil {
		t.Fatal("report has no costs")
	}
	priced := in > 0 || out > 0
	if c.Priced != priced {
		t.Fatalf("priced = %v, want %v", c.Priced, priced)
	}
	a := c.AlwaysCloud
	n := float64(g.CloudRecords)
	if a.CloudCalls != g.CloudRecords || a.UnknownCalls != 0 || a.EstimatedCalls != estimated || a.PromptTokens < a.CloudCalls || a.CompletionTokens < 1 {
		t.Fatalf("always-cloud: %+v", a)
	}
	if c.AlwaysLocal.CloudCalls != 0 || c.AlwaysLocal.PromptTokens != 0 {
		t.Errorf("always-local calls the cloud: %+v", c.AlwaysLocal)
	}
	if c.Oracle.CloudCalls != int(math.Round(*g.OracleCallRate*n)) {
		t.Errorf("oracle calls %d, call rate %v", c.Oracle.CloudCalls, *g.OracleCallRate)
	}
	check := func(name string, r report.CostResult) {
		t.Helper()
		if r.TokensPer1K == nil || math.Abs(*r.TokensPer1K-1000*float64(r.PromptTokens+r.CompletionTokens)/n) > 1e-6 {
			t.Errorf("%s: tokens per 1K %v for %+v", name, r.TokensPer1K, r)
		}
		if !priced {
			if r.Cost != nil || r.CostPer1K != nil {
				t.Errorf("%s: a cost without prices: %+v", name, r)
			}
			return
		}
		want := (float64(r.PromptTokens)*in + float64(r.CompletionTokens)*out) / 1000
		if r.Cost == nil || math.Abs(*r.Cost-want) > 1e-9 || math.Abs(*r.CostPer1K-1000*want/n) > 1e-9 {
			t.Errorf("%s: cost %v, want %v (%+v)", name, r.Cost, want, r)
		}
		if r.Savings == nil || math.Abs(*r.Savings-(1 - want / *a.Cost)) > 1e-9 {
			t.Errorf("%s: savings %v", name, r.Savings)
		}
	}
	check("always-cloud", a)
	check("oracle", c.Oracle)
	for _, sc := range g.Scorers {
		cc := sc.Cascade.Cost
		if cc.CloudCalls != int(math.Round(sc.Cascade.CallRate*n)) || cc.PromptTokens > a.PromptTokens {
			t.Errorf("%s: cascade cost %+v at call rate %v", sc.Name, cc, sc.Cascade.CallRate)
		}
		check("cascade "+sc.Name, cc)
		if cc.Savings == nil || *cc.Savings <= 0 || *cc.Savings >= 1 {
			t.Errorf("%s: cascade savings %v, want in (0, 1) at call rate %v", sc.Name, cc.Savings, sc.Cascade.CallRate)
		}
	}
}

// stripUsage rewrites the cloud answer caches in dir as an old version
// wrote them: without "usage".
func stripUsage(t *testing.T, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "cloud-*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no cloud cache in %s: %v", dir, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var doc struct {
				Key    string `json:"key"`
				Answer struct {
					Response map[string]any `json:"response"`
					Latency  int64          `json:"latency"`
				} `json:"answer"`
			}
			if err := json.Unmarshal([]byte(l), &doc); err != nil {
				t.Fatal(err)
			}
			if _, ok := doc.Answer.Response["usage"]; !ok {
				t.Fatalf("cache line has no usage to strip: %s", l)
			}
			delete(doc.Answer.Response, "usage")
			nl, _ := json.Marshal(doc)
			lines = append(lines, string(nl))
		}
		if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
