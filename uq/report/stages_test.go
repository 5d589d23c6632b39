package report

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/uq/calib"
)

func TestStagesReport(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	samples := make([]calib.JointSample, 500)
	for i := range samples {
		s1, s2 := rng.Float64(), rng.Float64()
		samples[i] = calib.JointSample{Scores: []float64{s1, s2}, Correct: []bool{s1 > 0.5, s2 > 0.3}, CloudCorrect: i%20 != 0,
			Latency: []float64{0.05, 0.17, 0.3}}
	}
	costs := []calib.StageCost{{Name: "weak"}, {Name: "strong"}, {Name: "cloud"}}
	a, b := 0.5, 0.3
	r, err := BuildStages(StagesInput{Samples: samples, Costs: costs, Chosen: []float64{0.5, 0.3}, Alone: []*float64{&a, &b}, Target: 0.9, Grid: 8, Data: "synthetic"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Single) != 3 || len(r.TwoStage) != 2 || len(r.Pareto) == 0 {
		t.Fatalf("rows: %d single, %d two-stage, %d on the front", len(r.Single), len(r.TwoStage), len(r.Pareto))
	}
	// Known answers: with these labels the chosen thresholds make every
	// local answer right, and the oracle is never wrong locally.
	if r.Chosen.AcceptedAccuracy != 1 || r.Oracle.AcceptedAccuracy != 1 || r.Chosen.CloudRate >= r.TwoStage[0].CloudRate {
		t.Errorf("chosen %+v\nweak → cloud %+v", r.Chosen.Outcome, r.TwoStage[0].Outcome)
	}
	if r.Single[2].CloudRate != 1 || r.Single[0].Accuracy < 0.4 || r.Single[0].Accuracy > 0.6 {
		t.Errorf("single rows %+v", r.Single)
	}
	// No point of the front beats another on all three axes.
	for _, f := range r.Pareto {
		for _, g := range r.Pareto {
			if g.Accuracy > f.Accuracy && g.CloudRate < f.CloudRate && g.MeanLatency < f.MeanLatency {
				t.Errorf("front point %+v is dominated by %+v", f.Outcome, g.Outcome)
			}
		}
	}
	dir := t.TempDir()
	if err := r.WriteStagesDir(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{StagesMarkdownFile, StagesJSONFile, PlotParetoCloud + ".png", PlotParetoLatency + ".svg"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if md := r.Markdown(); !strings.Contains(md, "weak → strong → cloud") || !strings.Contains(md, "oracle") {
		t.Errorf("markdown:\n%s", md)
	}
}
