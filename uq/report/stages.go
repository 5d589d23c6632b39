package report

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/edgecascade/edgecascade/uq/calib"
)

// The report of a cascade with more than one local stage (cascade.stages):
// every stage alone, each local stage alone before the cloud (the
// two-stage cascades), the multi-stage cascade at its jointly chosen
// thresholds, the oracle, and the Pareto front of accuracy, cloud share and
// latency over a grid of thresholds.

// Names of the files WriteStagesDir writes.
const (
	StagesMarkdownFile = "stages.md"
	StagesJSONFile     = "stages.json"
	PlotParetoCloud    = "pareto_cloud"
	PlotParetoLatency  = "pareto_latency"
)

// StagesInput is what the stages report is built from: labelled samples
// every stage answered, the stages' costs (names, the cloud last), the
// chosen thresholds and each local stage's own threshold before the cloud.
type StagesInput struct {
	Samples []calib.JointSample
	Costs   []calib.StageCost
	Chosen  []float64
	// Alone are the local stages' thresholds alone before the cloud, by
	// stage (nil entries: none certified).
	Alone []*float64
	// StageByStage, when set, are thresholds chosen one stage at a time.
	StageByStage []float64
	Target       float64
	// Grid is the number of thresholds per local stage of the Pareto grid
	// (quantiles of its scores, with accept-all and accept-none).
	Grid int
	Data string
}

// StagesReport is the stages report.
type StagesReport struct {
	Data   string   `json:"data"`
	Stages []string `json:"stages"`
	Target float64  `json:"target"`
	// Single is every stage answering everything alone.
	Single []Row `json:"single"`
	// TwoStage is each local stage alone before the cloud at its own
	// calibrated threshold.
	TwoStage []Row `json:"two_stage"`
	// StageByStage is the multi-stage cascade at thresholds chosen one
	// stage at a time, when given.
	StageByStage *Row `json:"stage_by_stage,omitempty"`
	// Chosen is the multi-stage cascade at the jointly chosen thresholds.
	Chosen Row `json:"chosen"`
	// Oracle routes each item to the first stage that answers it right
	// (the cloud when none does), trying nothing else.
	Oracle Row `json:"oracle"`
	// Pareto are the configurations of the grid that no other beats on
	// accuracy, cloud share and mean latency at once.
	Pareto []Row `json:"pareto"`
}

// Row is one configuration and what it did.
type Row struct {
	Name string `json:"name"`
	calib.Outcome
}

// BuildStages computes the stages report.
func BuildStages(in StagesInput) (*StagesReport, error) {
	if len(in.Samples) == 0 || len(in.Costs) < 2 {
		return nil, fmt.Errorf("stages report: no samples or stages")
	}
	k := len(in.Costs) - 1
	r := &StagesReport{Data: in.Data, Target: in.Target}
	for _, c := range in.Costs {
		r.Stages = append(r.Stages, c.Name)
	}
	cloud := r.Stages[k]
	none := func() []float64 {
		th := make([]float64, k)
		for i := range th {
			th[i] = calib.EscalateAll
		}
		return th
	}
	for s := 0; s < k; s++ {
		r.Single = append(r.Single, Row{Name: r.Stages[s] + " alone", Outcome: aloneOutcome(in.Samples, in.Costs, s)})
		if s < len(in.Alone) && in.Alone[s] != nil {
			sub := make([]calib.JointSample, len(in.Samples))
			for i, x := range in.Samples {
				sub[i] = calib.JointSample{Scores: []float64{x.Scores[s]}, Correct: []bool{x.Correct[s]}, CloudCorrect: x.CloudCorrect}
				if len(x.Latency) == k+1 {
					sub[i].Latency = []float64{x.Latency[s], x.Latency[k]}
				}
			}
			out := calib.Apply(sub, []calib.StageCost{in.Costs[s], in.Costs[k]}, []float64{*in.Alone[s]})
			r.TwoStage = append(r.TwoStage, Row{Name: r.Stages[s] + " → " + cloud, Outcome: out})
		}
	}
	r.Single = append(r.Single, Row{Name: cloud + " alone", Outcome: calib.Apply(in.Samples, in.Costs, none())})
	r.Single[k].Outcome.LocalLatency = 0
	r.Single[k].MeanLatency = meanCloudLatency(in.Samples, in.Costs)
	r.Chosen = Row{Name: strings.Join(r.Stages, " → ") + " (joint)", Outcome: calib.Apply(in.Samples, in.Costs, in.Chosen)}
	if len(in.StageByStage) == k {
		r.StageByStage = &Row{Name: strings.Join(r.Stages, " → ") + " (stage by stage)", Outcome: calib.Apply(in.Samples, in.Costs, in.StageByStage)}
	}
	r.Oracle = Row{Name: "oracle", Outcome: oracle(in.Samples, in.Costs)}
	grid := in.Grid
	if grid == 0 {
		grid = 20
	}
	r.Pareto = pareto(in.Samples, in.Costs, grid)
	return r, nil
}

// aloneOutcome is stage s answering every item.
func aloneOutcome(samples []calib.JointSample, costs []calib.StageCost, s int) calib.Outcome {
	k := len(costs) - 1
	var o calib.Outcome
	o.Samples = len(samples)
	o.StageShare = make([]float64, k+1)
	o.StageShare[s] = 1
	lats := make([]float64, len(samples))
	right := 0
	for i, x := range samples {
		if x.Correct[s] {
			right++
		}
		lats[i] = costs[s].Latency
		if s < len(x.Latency) {
			lats[i] = x.Latency[s]
		}
		o.MeanLatency += lats[i]
	}
	n := float64(len(samples))
	o.Accepted, o.Errors = len(samples), len(samples)-right
	o.Accuracy, o.AcceptedAccuracy = float64(right)/n, float64(right)/n
	o.MeanLatency /= n
	o.LocalLatency = o.MeanLatency
	o.Energy = costs[s].Energy
	slices.Sort(lats)
	o.P95Latency = lats[int(0.95*n+0.999999)-1]
	return o
}

func meanCloudLatency(samples []calib.JointSample, costs []calib.StageCost) float64 {
	k := len(costs) - 1
	var sum float64
	for _, x := range samples {
		if k < len(x.Latency) {
			sum += x.Latency[k]
		} else {
			sum += costs[k].Latency
		}
	}
	return sum / float64(len(samples))
}

// oracle sends each item to the first stage that answers it right.
func oracle(samples []calib.JointSample, costs []calib.StageCost) calib.Outcome {
	k := len(costs) - 1
	o := calib.Outcome{Samples: len(samples), StageShare: make([]float64, k+1)}
	right := 0
	lats := make([]float64, len(samples))
	for i, x := range samples {
		s := slices.Index(x.Correct, true)
		if s < 0 {
			s = k
		}
		o.StageShare[s]++
		if s < k || x.CloudCorrect {
			right++
		}
		lats[i] = costs[s].Latency
		if s < len(x.Latency) {
			lats[i] = x.Latency[s]
		}
		o.MeanLatency += lats[i]
		if s < k {
			o.Accepted++
			o.LocalLatency += lats[i]
		}
	}
	n := float64(len(samples))
	for i := range o.StageShare {
		o.StageShare[i] /= n
	}
	o.CloudRate = o.StageShare[k]
	o.Accuracy, o.AcceptedAccuracy = float64(right)/n, 1
	o.MeanLatency /= n
	o.LocalLatency /= n
	slices.Sort(lats)
	o.P95Latency = lats[int(0.95*n+0.999999)-1]
	return o
}

// pareto evaluates a grid of thresholds and keeps the configurations no
// other beats on accuracy, cloud share and mean latency together.
func pareto(samples []calib.JointSample, costs []calib.StageCost, grid int) []Row {
	k := len(costs) - 1
	cands := make([][]float64, k)
	for s := range k {
		scores := make([]float64, len(samples))
		for i, x := range samples {
			scores[i] = x.Scores[s]
		}
		slices.Sort(scores)
		c := []float64{0}
		for q := 1; q <= grid-2; q++ {
			v := scores[int(float64(q)/float64(grid-1)*float64(len(scores)-1))]
			if v > c[len(c)-1] {
				c = append(c, v)
			}
		}
		cands[s] = append(c, calib.EscalateAll)
	}
	var all []calib.Outcome
	var walk func(prefix []float64)
	walk = func(prefix []float64) {
		if len(prefix) == k {
			all = append(all, calib.Apply(samples, costs, prefix))
			return
		}
		for _, c := range cands[len(prefix)] {
			walk(append(slices.Clone(prefix), c))
		}
	}
	walk(nil)
	beats := func(a, b calib.Outcome) bool {
		return a.Accuracy >= b.Accuracy && a.CloudRate <= b.CloudRate && a.MeanLatency <= b.MeanLatency &&
			(a.Accuracy > b.Accuracy || a.CloudRate < b.CloudRate || a.MeanLatency < b.MeanLatency)
	}
	var front []Row
	for i, a := range all {
		if slices.ContainsFunc(front, func(f Row) bool {
			return f.Accuracy == a.Accuracy && f.CloudRate == a.CloudRate && f.MeanLatency == a.MeanLatency
		}) {
			continue // the same point by other thresholds
		}
		dominated := false
		for j, b := range all {
			if i != j && beats(b, a) {
				dominated = true
				break
			}
		}
		if !dominated {
			front = append(front, Row{Name: "grid", Outcome: a})
		}
	}
	slices.SortFunc(front, func(a, b Row) int {
		if a.CloudRate != b.CloudRate {
			if a.CloudRate < b.CloudRate {
				return -1
			}
			return 1
		}
		if a.MeanLatency < b.MeanLatency {
			return -1
		}
		return 1
	})
	return front
}

// Markdown renders the report.
func (r *StagesReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Stages: %s\n\nData: %s. Target: %s of accepted local answers right (certified on the calibration data).\n\n", strings.Join(r.Stages, " → "), r.Data, pct(r.Target))
	b.WriteString("| configuration | thresholds | accuracy | accepted local right | answered by stage | cloud share | mean latency | p95 latency | local compute / query |\n|---|---|---|---|---|---|---|---|---|\n")
	row := func(x Row) {
		th := "—"
		if len(x.Thresholds) > 0 {
			parts := make([]string, len(x.Thresholds))
			for i, t := range x.Thresholds {
				switch {
				case t >= calib.EscalateAll:
					parts[i] = "none"
				case t == 0:
					parts[i] = "all"
				default:
					parts[i] = fmt.Sprintf("%.4f", t)
				}
			}
			th = strings.Join(parts, ", ")
		}
		shares := make([]string, len(x.StageShare))
		for i, s := range x.StageShare {
			shares[i] = fmt.Sprintf("%.1f%%", 100*s)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %.0f ms | %.0f ms | %.0f ms |\n", x.Name, th, pct(x.Accuracy), pct(x.AcceptedAccuracy),
			strings.Join(shares, " / "), pct(x.CloudRate), 1000*x.MeanLatency, 1000*x.P95Latency, 1000*x.LocalLatency)
	}
	for _, x := range r.Single {
		row(x)
	}
	for _, x := range r.TwoStage {
		row(x)
	}
	if r.StageByStage != nil {
		row(*r.StageByStage)
	}
	row(r.Chosen)
	row(r.Oracle)
	fmt.Fprintf(&b, "\n## Pareto front (accuracy vs cloud share vs mean latency), %d configurations\n\n", len(r.Pareto))
	b.WriteString("| thresholds | accuracy | accepted local right | cloud share | mean latency | p95 latency |\n|---|---|---|---|---|---|\n")
	for _, x := range r.Pareto {
		th := make([]string, len(x.Thresholds))
		for i, t := range x.Thresholds {
			th[i] = fmt.Sprintf("%.3g", min(t, 1.0001))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.0f ms | %.0f ms |\n", strings.Join(th, ", "), pct(x.Accuracy), pct(x.AcceptedAccuracy), pct(x.CloudRate), 1000*x.MeanLatency, 1000*x.P95Latency)
	}
	fmt.Fprintf(&b, "\nPlots: %s.svg (accuracy vs cloud share), %s.svg (accuracy vs mean latency); the chosen point is the star, the oracle the triangle.\n", PlotParetoCloud, PlotParetoLatency)
	return b.String()
}

// WriteStagesDir writes stages.md, stages.json and the two Pareto plots
// (PNG and SVG) into dir.
func (r *StagesReport) WriteStagesDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write stages report: %w", err)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode stages report: %w", err)
	}
	if err := writeFile(dir, StagesJSONFile, append(js, '\n')); err != nil {
		return err
	}
	if err := writeFile(dir, StagesMarkdownFile, []byte(r.Markdown())); err != nil {
		return err
	}
	for _, pl := range []struct {
		name string
		x    func(calib.Outcome) float64
		xl   string
	}{
		{PlotParetoCloud, func(o calib.Outcome) float64 { return o.CloudRate }, "cloud share"},
		{PlotParetoLatency, func(o calib.Outcome) float64 { return 1000 * o.MeanLatency }, "mean latency (ms)"},
	} {
		p, err := r.paretoPlot(pl.x, pl.xl)
		if err != nil {
			return fmt.Errorf("plot %s: %w", pl.name, err)
		}
		png, err := renderPNG(p)
		if err != nil {
			return err
		}
		if err := writeFile(dir, pl.name+".png", png); err != nil {
			return err
		}
		svg, err := renderSVG(p)
		if err != nil {
			return err
		}
		if err := writeFile(dir, pl.name+".svg", svg); err != nil {
			return err
		}
	}
	return nil
}

func (r *StagesReport) paretoPlot(x func(calib.Outcome) float64, xl string) (*plot.Plot, error) {
	p := newPlot("Accuracy vs "+xl+": "+strings.Join(r.Stages, " → "), xl, "accuracy")
	p.Legend.Top, p.Legend.Left = false, false
	xys := make(plotter.XYs, len(r.Pareto))
	for i, f := range r.Pareto {
		xys[i] = plotter.XY{X: x(f.Outcome), Y: f.Accuracy}
	}
	slices.SortFunc(xys, func(a, b plotter.XY) int {
		if a.X < b.X {
			return -1
		}
		if a.X > b.X {
			return 1
		}
		return 0
	})
	front, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, err
	}
	front.Color, front.Shape, front.Radius = grey(), draw.CircleGlyph{}, vg.Points(2.5)
	p.Add(front)
	p.Legend.Add("Pareto front (threshold grid)", front)
	for i, s := range r.Single {
		if err := addPoint(p, s.Name, x(s.Outcome), s.Accuracy, draw.SquareGlyph{}, plotutil.Color(i)); err != nil {
			return nil, err
		}
	}
	for i, s := range r.TwoStage {
		if err := addPoint(p, s.Name, x(s.Outcome), s.Accuracy, draw.CrossGlyph{}, plotutil.Color(i)); err != nil {
			return nil, err
		}
	}
	if err := addPoint(p, r.Chosen.Name+" (chosen)", x(r.Chosen.Outcome), r.Chosen.Accuracy, draw.PlusGlyph{}, black()); err != nil {
		return nil, err
	}
	star, err := plotter.NewScatter(plotter.XYs{{X: x(r.Chosen.Outcome), Y: r.Chosen.Accuracy}})
	if err != nil {
		return nil, err
	}
	star.Shape, star.Color, star.Radius = draw.CrossGlyph{}, black(), vg.Points(6)
	p.Add(star)
	if err := addPoint(p, "oracle", x(r.Oracle.Outcome), r.Oracle.Accuracy, draw.PyramidGlyph{}, black()); err != nil {
		return nil, err
	}
	padY(p)
	return p, nil
}
