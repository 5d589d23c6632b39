package report

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/uq/calib"
	"github.com/edgecascade/edgecascade/uq/labelled"
)

// row is a compact synthetic record: one score per scorer name.
type row struct {
	task   string
	scores map[string]float64
	local  bool
	cloud  *bool // nil: no cloud label
}

func yes() *bool { return ptr(true) }
func no() *bool  { return ptr(false) }

func records(rows []row) []labelled.Record {
	out := make([]labelled.Record, len(rows))
	for i, r := range rows {
		out[i] = labelled.Record{Index: i, Task: r.task, Scores: r.scores, LocalCorrect: r.local, CloudCorrect: r.cloud}
	}
	return out
}

// tenRows is a hand-checked set for the scorer "s": local right 5/10, cloud
// right 7/10, oracle 8/10 at call rate 0.3. Tasks a (first five) and b.
func tenRows() []row {
	type r struct {
		score        float64
		local, cloud bool
	}
	data := []r{
		{0.95, true, true}, {0.9, true, false}, {0.8, true, true}, {0.7, false, true}, {0.6, true, true},
		{0.4, false, true}, {0.3, false, false}, {0.2, true, true}, {0.1, false, true}, {0.05, false, false},
	}
	out := make([]row, len(data))
	for i, d := range data {
		task := "a"
		if i >= 5 {
			task = "b"
		}
		out[i] = row{task: task, scores: map[string]float64{"s": d.score}, local: d.local, cloud: ptr(d.cloud)}
	}
	return out
}

func testInput(rows []row, setups ...ScorerSetup) Input {
	return Input{
		Records:    records(rows),
		Scorers:    setups,
		LocalModel: "qwen2.5:0.5b",
		CloudModel: "gpt-4o-mini",
		Data:       "val.jsonl",
		DataHash:   "sha256:0123abcd",
		Generated:  time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9 }

func checkPtr(t *testing.T, name string, got *float64, want float64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = null, want %v", name, want)
		return
	}
	if !near(*got, want) {
		t.Errorf("%s = %v, want %v", name, *got, want)
	}
}

func mustBuild(t *testing.T, in Input) *Report {
	t.Helper()
	r, err := Build(in)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return r
}

func TestBuildKnownNumbers(t *testing.T) {
	r := mustBuild(t, testInput(tenRows(), ScorerSetup{Name: "s", Threshold: 0.5, Method: "target_accuracy", Target: 0.75, Delta: 0.1, Guarantee: "Promise."}))
	g := r.Overall
	s := g.Scorers[0]
	if g.Records != 10 || g.CloudRecords != 10 || s.Accepted != 5 {
		t.Fatalf("records %d, cloud %d, accepted %d; want 10, 10, 5", g.Records, g.CloudRecords, s.Accepted)
	}
	if s.Cascade == nil {
		t.Fatal("cascade is null")
	}
	floats := []struct {
		name string
		got  float64
		want float64
	}{
		{"local accuracy", g.LocalAccuracy, 0.5},
		{"call rate", s.CallRate, 0.5},
		{"cascade call rate", s.Cascade.CallRate, 0.5},
		{"cascade accuracy", s.Cascade.Accuracy, 0.7},
		{"random accuracy", s.Cascade.RandomAccuracy, 0.6},
		{"curve area", s.Cascade.CurveArea, 0.66},
		{"call rate for 95% of cloud", s.Cascade.CallRateForCloudFraction, 0.5},
		{"accuracy at 95% of cloud", s.Cascade.AccuracyAtCloudFraction, 0.7},
	}
	for _, f := range floats {
		if !near(f.got, f.want) {
			t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
		}
	}
	pointers := []struct {
		name string
		got  *float64
		want float64
	}{
		{"cloud accuracy", g.CloudAccuracy, 0.7},
		{"oracle accuracy", g.OracleAccuracy, 0.8},
		{"oracle call rate", g.OracleCallRate, 0.3},
		{"accepted accuracy", s.AcceptedAccuracy, 0.8},
		{"auroc", s.AUROC, 21.0 / 25},
		{"auprc", s.AUPRC, 0.885},
		{"target", s.Target, 0.75},
		{"delta", s.Delta, 0.1},
	}
	for _, p := range pointers {
		checkPtr(t, p.name, p.got, p.want)
	}
	if s.TargetMet == nil || !*s.TargetMet {
		t.Errorf("target met = %v, want true", s.TargetMet)
	}
	if len(s.Cascade.Curve) != 11 || len(s.RiskCoverage) != 10 || len(s.Reliability) != ReliabilityBins {
		t.Errorf("curve %d points, risk-coverage %d, bins %d; want 11, 10, %d",
			len(s.Cascade.Curve), len(s.RiskCoverage), len(s.Reliability), ReliabilityBins)
	}
	if s.Calibrator != "none" || s.Method != "target_accuracy" || s.Guarantee != "Promise." {
		t.Errorf("setup echoed as %q %q %q", s.Calibrator, s.Method, s.Guarantee)
	}
}

func TestBuildTasks(t *testing.T) {
	r := mustBuild(t, testInput(tenRows(), ScorerSetup{Name: "s", Threshold: 0.5}))
	if len(r.Tasks) != 2 || r.Tasks[0].Task != "a" || r.Tasks[1].Task != "b" {
		t.Fatalf("tasks %+v, want a and b", r.Tasks)
	}
	tests := []struct {
		task                     int
		local, cloud, oracle     float64
		auroc, cascade, callRate float64
	}{
		// a: accepts all five (4 right); b: escalates all five (3 right).
		{task: 0, local: 0.8, cloud: 0.8, oracle: 1, auroc: 0.75, cascade: 0.8, callRate: 0},
		{task: 1, local: 0.2, cloud: 0.6, oracle: 0.6, auroc: 0.5, cascade: 0.6, callRate: 1},
	}
	for _, tt := range tests {
		g := r.Tasks[tt.task]
		s := g.Scorers[0]
		if g.Records != 5 || !near(g.LocalAccuracy, tt.local) || !near(s.CallRate, tt.callRate) {
			t.Errorf("task %s: records %d, local %v, call rate %v", g.Task, g.Records, g.LocalAccuracy, s.CallRate)
		}
		checkPtr(t, g.Task+" cloud", g.CloudAccuracy, tt.cloud)
		checkPtr(t, g.Task+" oracle", g.OracleAccuracy, tt.oracle)
		checkPtr(t, g.Task+" auroc", s.AUROC, tt.auroc)
		if s.Cascade == nil || !near(s.Cascade.Accuracy, tt.cascade) {
			t.Errorf("task %s: cascade %+v, want accuracy %v", g.Task, s.Cascade, tt.cascade)
		}
		if s.Cascade != nil && s.Cascade.Curve != nil || s.RiskCoverage != nil || s.Reliability != nil {
			t.Errorf("task %s carries curves; only the overall group should", g.Task)
		}
	}

	untagged := tenRows()
	for i := range untagged {
		untagged[i].task = ""
	}
	if r := mustBuild(t, testInput(untagged, ScorerSetup{Name: "s", Threshold: 0.5})); r.Tasks != nil {
		t.Errorf("untagged records gave tasks %+v", r.Tasks)
	}
	untagged[0].task = "x"
	r = mustBuild(t, testInput(untagged, ScorerSetup{Name: "s", Threshold: 0.5}))
	if len(r.Tasks) != 2 || r.Tasks[0].Task != "" || r.Tasks[0].Records != 9 || r.Tasks[1].Records != 1 {
		t.Errorf("mixed tags: tasks %+v, want untagged (9) then x (1)", r.Tasks)
	}
}

// synthetic returns n records for the scorers "good" (P(right) = score),
// "perfect" (separates right from wrong) and "noise" (independent of
// correctness), with cloud accuracy cloudAcc.
func synthetic(seed uint64, n int, cloudAcc float64) []row {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	rows := make([]row, n)
	for i := range rows {
		good := math.Round(rng.Float64()*100) / 100
		local := rng.Float64() < good
		perfect := 0.2 * rng.Float64()
		if local {
			perfect += 0.8
		}
		rows[i] = row{
			task:   []string{"math", "trivia", "code"}[rng.IntN(3)],
			scores: map[string]float64{"good": good, "perfect": perfect, "noise": rng.Float64()},
			local:  local,
			cloud:  ptr(rng.Float64() < cloudAcc),
		}
	}
	return rows
}

func TestBuildPerfectScorer(t *testing.T) {
	tests := []struct {
		seed     uint64
		n        int
		cloudAcc float64
	}{
		{1, 50, 0.9},
		{2, 400, 0.7},
		{3, 1000, 0.95},
	}
	for _, tt := range tests {
		rows := synthetic(tt.seed, tt.n, tt.cloudAcc)
		r := mustBuild(t, testInput(rows, ScorerSetup{Name: "perfect", Threshold: 0.5}))
		g := r.Overall
		s := g.Scorers[0]
		localMean, cloudMean := 0.0, 0.0
		for _, row := range rows {
			if row.local {
				localMean++
			}
			if *row.cloud {
				cloudMean++
			}
		}
		localMean /= float64(tt.n)
		cloudMean /= float64(tt.n)
		if !near(g.LocalAccuracy, localMean) {
			t.Errorf("seed %d: always-local %v, want label mean %v", tt.seed, g.LocalAccuracy, localMean)
		}
		checkPtr(t, "always-cloud", g.CloudAccuracy, cloudMean)
		checkPtr(t, "perfect auroc", s.AUROC, 1)
		checkPtr(t, "perfect auprc", s.AUPRC, 1)
		checkPtr(t, "perfect accepted accuracy", s.AcceptedAccuracy, 1)
		if s.Cascade == nil || !near(s.Cascade.Accuracy, *g.OracleAccuracy) {
			t.Errorf("seed %d: cascade %+v, want oracle accuracy %v", tt.seed, s.Cascade, *g.OracleAccuracy)
		}
		if !near(s.CallRate, 1-localMean) {
			t.Errorf("seed %d: call rate %v, want share of wrong local answers %v", tt.seed, s.CallRate, 1-localMean)
		}
	}
}

func TestBuildConsistency(t *testing.T) {
	rows := synthetic(7, 2000, 0.85)
	setups := []ScorerSetup{
		{Name: "good", Threshold: 0.3},
		{Name: "good2", Threshold: 0.6},
		{Name: "perfect", Threshold: 0.5},
		{Name: "noise", Threshold: 0.5},
	}
	for i := range rows {
		rows[i].scores["good2"] = rows[i].scores["good"]
	}
	r := mustBuild(t, testInput(rows, setups...))
	for _, g := range append([]Group{r.Overall}, r.Tasks...) {
		local, cloud, oracle := g.LocalAccuracy, *g.CloudAccuracy, *g.OracleAccuracy
		for _, s := range g.Scorers {
			c := s.Cascade
			if s.Name != "noise" && (c.Accuracy < min(local, cloud)-1e-12 || c.Accuracy > oracle+1e-12) {
				t.Errorf("task %q %s: cascade %v outside [min(local %v, cloud %v), oracle %v]", g.Task, s.Name, c.Accuracy, local, cloud, oracle)
			}
			if s.Name != "noise" && c.Accuracy < c.RandomAccuracy {
				t.Errorf("task %q %s: cascade %v below random %v at the same call rate", g.Task, s.Name, c.Accuracy, c.RandomAccuracy)
			}
			if c.RandomAccuracy < min(local, cloud)-1e-12 || c.RandomAccuracy > max(local, cloud)+1e-12 {
				t.Errorf("task %q %s: random %v outside [local, cloud]", g.Task, s.Name, c.RandomAccuracy)
			}
			if !near(c.CallRate, s.CallRate) || !near(s.CallRate, 1-float64(s.Accepted)/float64(g.Records)) {
				t.Errorf("task %q %s: call rates %v, %v for %d of %d accepted", g.Task, s.Name, c.CallRate, s.CallRate, s.Accepted, g.Records)
			}
			if c.CallRateForCloudFraction < 0 || c.CallRateForCloudFraction > 1 || c.AccuracyAtCloudFraction < CloudFraction*cloud-1e-12 {
				t.Errorf("task %q %s: %v at call rate %v misses %v of cloud %v", g.Task, s.Name, c.AccuracyAtCloudFraction, c.CallRateForCloudFraction, CloudFraction, cloud)
			}
			if !(c.CurveArea > 0 && c.CurveArea <= oracle) || !(s.ECE >= 0 && s.ECE <= 1) {
				t.Errorf("task %q %s: area %v, ece %v", g.Task, s.Name, c.CurveArea, s.ECE)
			}
		}
	}
	// The higher threshold escalates more, and the better scorer ranks better.
	byName := map[string]ScorerResult{}
	for _, s := range r.Overall.Scorers {
		byName[s.Name] = s
	}
	if !(byName["good2"].CallRate > byName["good"].CallRate) {
		t.Errorf("threshold 0.6 call rate %v not above threshold 0.3's %v", byName["good2"].CallRate, byName["good"].CallRate)
	}
	if !(*byName["perfect"].AUROC > *byName["good"].AUROC && *byName["good"].AUROC > *byName["noise"].AUROC) {
		t.Errorf("AUROC order wrong: perfect %v, good %v, noise %v", *byName["perfect"].AUROC, *byName["good"].AUROC, *byName["noise"].AUROC)
	}
	if a := *byName["noise"].AUROC; math.Abs(a-0.5) > 0.05 {
		t.Errorf("noise AUROC %v, want about 0.5", a)
	}
	if c := byName["good"].Cascade.Curve; c[0].Accuracy != r.Overall.LocalAccuracy || c[len(c)-1].Accuracy != *r.Overall.CloudAccuracy {
		t.Errorf("curve ends %v..%v, want baselines", c[0], c[len(c)-1])
	}
}

func TestBuildThresholdEdges(t *testing.T) {
	tests := []struct {
		name                   string
		threshold              float64
		wantCall, wantAccuracy float64
		wantAccepted           bool
	}{
		{"zero accepts all", 0, 0, 0.5, true},
		{"negative accepts all", -3, 0, 0.5, true},
		{"escalate all", calib.EscalateAll, 1, 0.7, false},
		{"above one escalates all", 2, 1, 0.7, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustBuild(t, testInput(tenRows(), ScorerSetup{Name: "s", Threshold: tt.threshold, Target: 0.9}))
			s := r.Overall.Scorers[0]
			if !near(s.CallRate, tt.wantCall) || !near(s.Cascade.Accuracy, tt.wantAccuracy) {
				t.Errorf("call rate %v, accuracy %v; want %v, %v", s.CallRate, s.Cascade.Accuracy, tt.wantCall, tt.wantAccuracy)
			}
			if (s.AcceptedAccuracy != nil) != tt.wantAccepted || (s.TargetMet != nil) != tt.wantAccepted {
				t.Errorf("accepted accuracy %v, target met %v; want defined %v", s.AcceptedAccuracy, s.TargetMet, tt.wantAccepted)
			}
			if !tt.wantAccepted && !strings.Contains(strings.Join(s.Notes, " "), "accepts no answer") {
				t.Errorf("notes %q do not explain the empty acceptance", s.Notes)
			}
			if tt.wantAccepted && *s.TargetMet {
				t.Errorf("target 0.9 met at accuracy %v", *s.AcceptedAccuracy)
			}
		})
	}
}

// constCal maps every score to one probability.
type constCal float64

func (c constCal) Predict(float64) float64 { return float64(c) }

func TestBuildCalibrator(t *testing.T) {
	// Ten records, half right.
	rows := tenRows()
	tests := []struct {
		name    string
		cal     calib.Calibrator
		wantECE float64
		wantCal string
	}{
		{"calibrated constant", constCal(0.5), 0, "report.constCal"},
		{"overconfident constant", constCal(1), 0.5, "report.constCal"},
		{"platt", calib.Platt{A: 0, B: 0}, 0, "platt"},
		{"isotonic", calib.Isotonic{X: []float64{0, 1}, Y: []float64{0.5, 0.5}}, 0, "isotonic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustBuild(t, testInput(rows, ScorerSetup{Name: "s", Threshold: 0.5, Calibrator: tt.cal}))
			s := r.Overall.Scorers[0]
			if !near(s.ECE, tt.wantECE) || s.Calibrator != tt.wantCal {
				t.Errorf("ece %v, calibrator %q; want %v, %q", s.ECE, s.Calibrator, tt.wantECE, tt.wantCal)
			}
			// The threshold and AUROC use the raw score, not the probability.
			if s.Accepted != 5 || !near(*s.AUROC, 0.84) {
				t.Errorf("accepted %d, auroc %v; want 5, 0.84 from raw scores", s.Accepted, *s.AUROC)
			}
		})
	}
}

func TestBuildNoCloudLabels(t *testing.T) {
	rows := tenRows()
	for i := range rows {
		rows[i].cloud = nil
	}
	r := mustBuild(t, testInput(rows, ScorerSetup{Name: "s", Threshold: 0.5, Target: 0.75}))
	for _, g := range append([]Group{r.Overall}, r.Tasks...) {
		if g.CloudRecords != 0 || g.CloudAccuracy != nil || g.OracleAccuracy != nil || g.OracleCallRate != nil {
			t.Errorf("task %q: cloud numbers present without cloud labels: %+v", g.Task, g)
		}
		if g.Scorers[0].Cascade != nil {
			t.Errorf("task %q: cascade present without cloud labels", g.Task)
		}
		if !strings.Contains(strings.Join(g.Notes, " "), "no cloud labels") {
			t.Errorf("task %q: notes %q do not say cloud labels are missing", g.Task, g.Notes)
		}
	}
	s := r.Overall.Scorers[0]
	checkPtr(t, "accepted accuracy", s.AcceptedAccuracy, 0.8)
	checkPtr(t, "auroc", s.AUROC, 0.84)
	if !near(s.CallRate, 0.5) || s.TargetMet == nil || !*s.TargetMet {
		t.Errorf("call rate %v, target met %v", s.CallRate, s.TargetMet)
	}
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"cloud_accuracy": null`) || !strings.Contains(string(b), `"cascade": null`) {
		t.Errorf("JSON does not show skipped numbers as null:\n%s", b)
	}
	if md := r.Markdown(); !strings.Contains(md, "no cloud labels") {
		t.Errorf("Markdown does not say cloud labels are missing")
	}
}

func TestBuildPartialCloudLabels(t *testing.T) {
	rows := tenRows()
	rows[0].cloud, rows[9].cloud = nil, nil // drop a right-right and a wrong-wrong
	r := mustBuild(t, testInput(rows, ScorerSetup{Name: "s", Threshold: 0.5}))
	g := r.Overall
	s := g.Scorers[0]
	if g.Records != 10 || g.CloudRecords != 8 || s.Cascade.Records != 8 {
		t.Fatalf("records %d, cloud %d, cascade %d; want 10, 8, 8", g.Records, g.CloudRecords, s.Cascade.Records)
	}
	checkPtr(t, "cloud accuracy", g.CloudAccuracy, 6.0/8)
	checkPtr(t, "oracle", g.OracleAccuracy, 7.0/8)
	// Accepted among the eight: 0.9 T, 0.8 T, 0.7 F, 0.6 T; escalated: 6, 8, 9 cloud right.
	if !near(s.Cascade.Accuracy, 6.0/8) || !near(s.Cascade.CallRate, 0.5) || !near(s.CallRate, 0.5) {
		t.Errorf("cascade %+v", s.Cascade)
	}
	if !strings.Contains(strings.Join(g.Notes, " "), "8 of 10") {
		t.Errorf("notes %q do not mention the partial labels", g.Notes)
	}
}

func TestBuildOneClass(t *testing.T) {
	tests := []struct {
		name      string
		local     bool
		wantAUPRC *float64
		wantNote  string
	}{
		{"all right", true, ptr(1.0), "all right"},
		{"all wrong", false, nil, "all wrong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := tenRows()
			for i := range rows {
				rows[i].local = tt.local
			}
			r := mustBuild(t, testInput(rows, ScorerSetup{Name: "s", Threshold: 0.5}))
			for _, g := range append([]Group{r.Overall}, r.Tasks...) {
				s := g.Scorers[0]
				if s.AUROC != nil {
					t.Errorf("task %q: AUROC %v, want null", g.Task, *s.AUROC)
				}
				if (s.AUPRC == nil) != (tt.wantAUPRC == nil) || s.AUPRC != nil && !near(*s.AUPRC, *tt.wantAUPRC) {
					t.Errorf("task %q: AUPRC %v, want %v", g.Task, s.AUPRC, tt.wantAUPRC)
				}
				if !strings.Contains(strings.Join(s.Notes, " "), "AUROC undefined: local answers are "+tt.wantNote) {
					t.Errorf("task %q: notes %q", g.Task, s.Notes)
				}
			}
			b, err := r.JSON()
			if err != nil {
				t.Fatalf("JSON: %v", err)
			}
			if strings.Contains(string(b), "NaN") || !strings.Contains(string(b), `"auroc": null`) {
				t.Errorf("JSON has NaN or no null AUROC:\n%s", b)
			}
			if err := r.WriteDir(t.TempDir()); err != nil {
				t.Errorf("WriteDir: %v", err)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	good := ScorerSetup{Name: "s", Threshold: 0.5}
	withScore := func(i int, name string, v float64) []row {
		rows := tenRows()
		rows[i].scores = map[string]float64{name: v}
		return rows
	}
	tests := []struct {
		name    string
		in      Input
		want    error
		mention string
	}{
		{"no records", testInput(nil, good), ErrNoRecords, "no records"},
		{"no scorers", testInput(tenRows()), ErrNoScorers, "no scorers"},
		{"scorer missing everywhere", testInput(tenRows(), good, ScorerSetup{Name: "absent"}), ErrMissingScore, `"absent" has no score on 10 of 10`},
		{"scorer missing on one record", testInput(withScore(3, "other", 0.5), good), ErrMissingScore, `"s" has no score on 1 of 10 records (first at record 3)`},
		{"NaN score", testInput(withScore(2, "s", math.NaN()), good), ErrInvalidScore, "record 2"},
		{"score above one", testInput(withScore(4, "s", 1.5), good), ErrInvalidScore, "1.5"},
		{"calibrator NaN", testInput(tenRows(), ScorerSetup{Name: "s", Calibrator: constCal(math.NaN())}), ErrInvalidScore, "calibrated probability"},
		{"duplicate scorer", testInput(tenRows(), good, good), ErrInvalidSetup, "twice"},
		{"empty name", testInput(tenRows(), ScorerSetup{}), ErrInvalidSetup, "empty scorer name"},
		{"NaN threshold", testInput(tenRows(), ScorerSetup{Name: "s", Threshold: math.NaN()}), ErrInvalidSetup, "threshold"},
		{"infinite threshold", testInput(tenRows(), ScorerSetup{Name: "s", Threshold: math.Inf(1)}), ErrInvalidSetup, "threshold"},
		{"target one", testInput(tenRows(), ScorerSetup{Name: "s", Target: 1}), ErrInvalidSetup, "target"},
		{"negative delta", testInput(tenRows(), ScorerSetup{Name: "s", Delta: -0.1}), ErrInvalidSetup, "delta"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Build(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if r != nil {
				t.Error("report returned with an error")
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
	var missing *MissingScoreError
	_, err := Build(testInput(withScore(3, "other", 0.5), good))
	if !errors.As(err, &missing) || missing.Scorer != "s" || missing.Missing != 1 || missing.First != 3 {
		t.Errorf("errors.As gave %+v", missing)
	}
}

func TestBuildDefaultsGenerated(t *testing.T) {
	in := testInput(tenRows(), ScorerSetup{Name: "s", Threshold: 0.5})
	in.Generated = time.Time{}
	before := time.Now().Add(-time.Second)
	r := mustBuild(t, in)
	if r.Generated.Before(before) || r.Generated.After(time.Now().Add(time.Second)) {
		t.Errorf("generated %v, want about now", r.Generated)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	rows := synthetic(11, 300, 0.8)
	r := mustBuild(t, testInput(rows,
		ScorerSetup{Name: "good", Threshold: 0.4, Method: "target_accuracy", Target: 0.8, Delta: 0.05, Guarantee: "g"},
		ScorerSetup{Name: "noise", Threshold: 0.5, Calibrator: calib.Platt{A: 1, B: -0.5}}))
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, err := back.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(b2) {
		t.Error("JSON changed after a round trip")
	}
	if !back.Generated.Equal(r.Generated) || back.Overall.Scorers[1].Cascade.CurveArea != r.Overall.Scorers[1].Cascade.CurveArea {
		t.Error("values changed after a round trip")
	}
}
