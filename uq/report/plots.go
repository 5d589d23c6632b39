package report

import (
	"bytes"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Plot file names, without extension; each is written as .png and .svg.
const (
	PlotAccuracy     = "accuracy_vs_call_rate"
	PlotRiskCoverage = "risk_coverage"
	PlotReliability  = "reliability"
)

// Plot size and PNG resolution.
const (
	plotWidth  = 7 * vg.Inch
	plotHeight = 5 * vg.Inch
	plotDPI    = 120
)

// lineWidth is the width of every line, in points.
const lineWidth = vg.Length(1.5)

// grey colours the reference lines.
func grey() color.Color { return color.RGBA{R: 110, G: 110, B: 110, A: 255} }

// black colours the baseline markers.
func black() color.Color { return color.RGBA{A: 255} }

// dashes is the dash pattern of the reference lines.
func dashes() []vg.Length { return []vg.Length{vg.Points(5), vg.Points(3)} }

// namedPlot is a plot and its file name without extension.
type namedPlot struct {
	name string
	plot *plot.Plot
}

// plots builds the report's three plots from the overall group.
func (r *Report) plots() ([]namedPlot, error) {
	builders := []struct {
		name  string
		build func(Group) (*plot.Plot, error)
	}{
		{PlotAccuracy, accuracyPlot},
		{PlotRiskCoverage, riskCoveragePlot},
		{PlotReliability, reliabilityPlot},
	}
	out := make([]namedPlot, 0, len(builders))
	for _, b := range builders {
		p, err := b.build(r.Overall)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", b.name, err)
		}
		out = append(out, namedPlot{name: b.name, plot: p})
	}
	return out, nil
}

// newPlot returns a plot with a title, axis labels and a grid.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	return p
}

// accuracyPlot draws accuracy against cloud-call rate: one curve and one
// operating point per scorer, with the always-local, always-cloud, random
// and oracle baselines.
func accuracyPlot(g Group) (*plot.Plot, error) {
	p := newPlot("Accuracy vs. cloud-call rate", "cloud-call rate", "accuracy")
	p.Legend.Top, p.Legend.Left = false, false
	p.X.Min, p.X.Max = 0, 1
	if g.CloudAccuracy == nil {
		p.Title.Text += " (no cloud labels: only always-local shown)"
		if err := addPoint(p, "always local", 0, g.LocalAccuracy, draw.SquareGlyph{}, black()); err != nil {
			return nil, err
		}
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
		return p, nil
	}
	// The curves' end points are the baselines on the cloud-labelled
	// records; every scorer's curve shares them.
	local, cloud := g.LocalAccuracy, *g.CloudAccuracy
	for _, s := range g.Scorers {
		if s.Cascade != nil && len(s.Cascade.Curve) > 0 {
			local, cloud = s.Cascade.Curve[0].Accuracy, s.Cascade.Curve[len(s.Cascade.Curve)-1].Accuracy
			break
		}
	}
	random, err := plotter.NewLine(plotter.XYs{{X: 0, Y: local}, {X: 1, Y: cloud}})
	if err != nil {
		return nil, err
	}
	random.Color, random.Dashes, random.Width = grey(), dashes(), lineWidth
	p.Add(random)
	p.Legend.Add("random routing", random)

	for i, s := range g.Scorers {
		if s.Cascade == nil {
			continue
		}
		xys := make(plotter.XYs, len(s.Cascade.Curve))
		for k, pt := range s.Cascade.Curve {
			xys[k] = plotter.XY{X: pt.CallRate, Y: pt.Accuracy}
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("scorer %q curve: %w", s.Name, err)
		}
		line.Color, line.Width = plotutil.Color(i), lineWidth
		point, err := operatingPoint(s.Cascade.CallRate, s.Cascade.Accuracy, plotutil.Color(i))
		if err != nil {
			return nil, fmt.Errorf("scorer %q: %w", s.Name, err)
		}
		p.Add(line, point)
		p.Legend.Add(scorerLabel(s), line, point)
	}
	if err := addPoint(p, "always local", 0, local, draw.SquareGlyph{}, black()); err != nil {
		return nil, err
	}
	if err := addPoint(p, "always cloud", 1, cloud, draw.BoxGlyph{}, black()); err != nil {
		return nil, err
	}
	if err := addPoint(p, "oracle", *g.OracleCallRate, *g.OracleAccuracy, draw.PyramidGlyph{}, black()); err != nil {
		return nil, err
	}
	p.X.Min, p.X.Max = 0, 1
	padY(p)
	return p, nil
}

// riskCoveragePlot draws the risk–coverage curve of each scorer with its
// operating point at the threshold.
func riskCoveragePlot(g Group) (*plot.Plot, error) {
	p := newPlot("Risk vs. coverage (answers kept local, highest score first)", "coverage (share answered locally)", "risk (share of accepted answers wrong)")
	p.Legend.Top, p.Legend.Left = true, true
	for i, s := range g.Scorers {
		xys := make(plotter.XYs, len(s.RiskCoverage))
		for k, pt := range s.RiskCoverage {
			xys[k] = plotter.XY{X: pt.Coverage, Y: pt.Risk}
		}
		if len(xys) == 0 {
			continue
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("scorer %q risk-coverage: %w", s.Name, err)
		}
		line.Color, line.Width = plotutil.Color(i), lineWidth
		p.Add(line)
		if s.AcceptedAccuracy == nil {
			p.Legend.Add(s.Name+" (accepts nothing)", line)
			continue
		}
		point, err := operatingPoint(1-s.CallRate, 1-*s.AcceptedAccuracy, plotutil.Color(i))
		if err != nil {
			return nil, fmt.Errorf("scorer %q: %w", s.Name, err)
		}
		p.Add(point)
		p.Legend.Add(scorerLabel(s), line, point)
	}
	p.X.Min, p.X.Max = 0, 1
	padY(p)
	// Leave room above the curves for the legend, whose top-left corner
	// would otherwise cover the noisy start of the curves.
	span := p.Y.Max - p.Y.Min
	p.Y.Max = p.Y.Min + span/(1-min(0.5, 0.03+0.05*float64(len(g.Scorers))))
	return p, nil
}

// reliabilityPlot draws, per scorer, the observed accuracy of each
// non-empty calibrated-probability bin against its mean probability, with
// the diagonal of perfect calibration.
func reliabilityPlot(g Group) (*plot.Plot, error) {
	p := newPlot("Reliability diagram (calibrated probability)", "mean calibrated probability in bin", "observed accuracy in bin")
	p.Legend.Top, p.Legend.Left = true, true
	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return nil, err
	}
	diag.Color, diag.Dashes, diag.Width = grey(), dashes(), lineWidth
	p.Add(diag)
	p.Legend.Add("perfect calibration", diag)
	for i, s := range g.Scorers {
		var xys plotter.XYs
		for _, b := range s.Reliability {
			if b.Count > 0 {
				xys = append(xys, plotter.XY{X: b.MeanScore, Y: b.Accuracy})
			}
		}
		if len(xys) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("scorer %q reliability: %w", s.Name, err)
		}
		line.Color, line.Width = plotutil.Color(i), lineWidth
		points.Color, points.Shape, points.Radius = plotutil.Color(i), draw.CircleGlyph{}, vg.Points(3)
		p.Add(line, points)
		p.Legend.Add(fmt.Sprintf("%s (ECE %.3f)", s.Name, s.ECE), line, points)
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	return p, nil
}

// scorerLabel is a scorer's legend label; its thumbnail is the curve with
// the operating-point marker.
func scorerLabel(s ScorerResult) string {
	return fmt.Sprintf("%s (marker: threshold %.3g)", s.Name, s.Threshold)
}

// operatingPoint returns the marker of a scorer's operating point.
func operatingPoint(x, y float64, c color.Color) (*plotter.Scatter, error) {
	s, err := plotter.NewScatter(plotter.XYs{{X: x, Y: y}})
	if err != nil {
		return nil, fmt.Errorf("operating point: %w", err)
	}
	s.Shape, s.Color, s.Radius = draw.CircleGlyph{}, c, vg.Points(4.5)
	return s, nil
}

// addPoint adds one labelled marker.
func addPoint(p *plot.Plot, label string, x, y float64, shape draw.GlyphDrawer, c color.Color) error {
	s, err := plotter.NewScatter(plotter.XYs{{X: x, Y: y}})
	if err != nil {
		return fmt.Errorf("point %s: %w", label, err)
	}
	s.Shape, s.Color, s.Radius = shape, c, vg.Points(4.5)
	p.Add(s)
	p.Legend.Add(label, s)
	return nil
}

// padY widens the y range by 5% on each side, within [0, 1] where possible,
// so that markers on the edge stay visible.
func padY(p *plot.Plot) {
	lo, hi := p.Y.Min, p.Y.Max
	if hi-lo < 0.02 {
		lo, hi = lo-0.01, hi+0.01
	}
	pad := 0.05 * (hi - lo)
	p.Y.Min, p.Y.Max = max(0, lo-pad), min(1, hi+pad)
	if p.Y.Min >= p.Y.Max {
		p.Y.Min, p.Y.Max = lo-pad, hi+pad
	}
}

// renderPNG draws p as a PNG image.
func renderPNG(p *plot.Plot) ([]byte, error) {
	c := vgimg.NewWith(vgimg.UseWH(plotWidth, plotHeight), vgimg.UseDPI(plotDPI))
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}

// renderSVG draws p as an SVG document.
func renderSVG(p *plot.Plot) ([]byte, error) {
	c := vgsvg.New(plotWidth, plotHeight)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encode svg: %w", err)
	}
	return buf.Bytes(), nil
}
