package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The side-by-side report of replay runs: a table per phase and SVG plots
// over the stream of rolling accepted-local accuracy, local share and the
// threshold.

// rollingWindow is how many items each point of the plots covers.
const rollingWindow = 100

func readRows(dir string) ([]replayRow, error) {
	f, err := os.Open(filepath.Join(dir, "rows.jsonl"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []replayRow
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r replayRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		rows = append(rows, r)
	}
	return rows, sc.Err()
}

func writeCompare(out string, dirs []string) error {
	runs := make([][]replayRow, len(dirs))
	names := make([]string, len(dirs))
	for i, d := range dirs {
		var err error
		if runs[i], err = readRows(d); err != nil {
			return err
		}
		names[i] = filepath.Base(d)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Replay: %s\n\n", strings.Join(names, " vs "))
	fmt.Fprintf(&b, "| run | part | items | local share | accepted-local accuracy | accuracy of all answers | feedback given |\n|---|---|---|---|---|---|---|\n")
	for i, rows := range runs {
		sum := runSummary(rows)
		for _, part := range []string{"all", "pre", "post", "post_after_300"} {
			s, ok := sum[part].(replaySummary)
			if !ok {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %.1f%% | %.1f%% | %.1f%% | %d |\n", names[i], part, s.Items, 100*s.LocalShare, 100*s.LocalAccuracy, 100*s.Accuracy, s.Feedback)
		}
		if h, ok := sum["post_after_300_hindsight"].(hindsightResult); ok {
			fmt.Fprintf(&b, "| %s | best threshold in hindsight (%.3f), post after 300 | | %.1f%% | %.1f%% | | |\n", names[i], h.Threshold, 100*h.LocalShare, 100*h.LocalAccuracy)
		}
		if l := lastLabels(rows); l != nil {
			fmt.Fprintf(&b, "| %s | labels taken | feedback %d, agreement %d, exploration %d | | | | |\n", names[i], l["feedback"], l["agreement"], l["exploration"])
		}
	}
	b.WriteString("\n")
	shift := -1
	for i, r := range runs[0] {
		if r.Phase == "post" {
			shift = i
			break
		}
	}
	plots := []struct {
		file, title string
		fn          func([]replayRow) []float64
		lo, hi      float64
	}{
		{"accuracy.svg", fmt.Sprintf("accepted-local accuracy (rolling %d)", rollingWindow), rollingLocalAccuracy, 0.5, 1},
		{"local_share.svg", fmt.Sprintf("local share (rolling %d)", rollingWindow), rollingLocalShare, 0, 1},
		{"threshold.svg", "threshold", func(rows []replayRow) []float64 {
			v := make([]float64, len(rows))
			for i, r := range rows {
				v[i] = min(r.Threshold, 1)
			}
			return v
		}, 0, 1},
	}
	for _, p := range plots {
		series := make([][]float64, len(runs))
		for i, rows := range runs {
			series[i] = p.fn(rows)
		}
		if err := os.WriteFile(filepath.Join(out, p.file), []byte(svgPlot(p.title, names, series, p.lo, p.hi, shift)), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&b, "![%s](%s)\n\n", p.title, p.file)
	}
	// Labels by source over the stream, for the runs that took any.
	var lnames []string
	var lseries [][]float64
	top := 1.0
	for i, rows := range runs {
		if lastLabels(rows) == nil {
			continue
		}
		for _, src := range []string{"feedback", "agreement", "exploration"} {
			v := make([]float64, len(rows))
			cur := 0.0
			for j, r := range rows {
				if r.Labels != nil {
					cur = float64(r.Labels[src])
				}
				v[j] = cur
				top = max(top, cur)
			}
			lnames, lseries = append(lnames, names[i]+" "+src), append(lseries, v)
		}
	}
	if len(lseries) > 0 {
		if err := os.WriteFile(filepath.Join(out, "labels.svg"), []byte(svgPlot("labels taken, by source", lnames, lseries, 0, top, shift)), 0o644); err != nil {
			return err
		}
		b.WriteString("![labels taken, by source](labels.svg)\n")
	}
	return os.WriteFile(filepath.Join(out, "report.md"), []byte(b.String()), 0o644)
}

func rollingLocalAccuracy(rows []replayRow) []float64 {
	v := make([]float64, len(rows))
	for i := range rows {
		s := summarize(rows[max(0, i+1-rollingWindow) : i+1])
		v[i] = s.LocalAccuracy
		if s.Local == 0 {
			v[i] = -1 // no point
		}
	}
	return v
}

func rollingLocalShare(rows []replayRow) []float64 {
	v := make([]float64, len(rows))
	for i := range rows {
		v[i] = summarize(rows[max(0, i+1-rollingWindow) : i+1]).LocalShare
	}
	return v
}

// svgPlot draws series (values in [lo, hi]; negative: no point) as lines,
// with a dashed line at the shift.
func svgPlot(title string, names []string, series [][]float64, lo, hi float64, shift int) string {
	const w, h, pad = 720.0, 260.0, 40.0
	colors := []string{"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"}
	n := 0
	for _, s := range series {
		n = max(n, len(s))
	}
	x := func(i int) float64 { return pad + (w-2*pad)*float64(i)/float64(max(1, n-1)) }
	y := func(v float64) float64 { return h - pad - (h-2*pad)*(v-lo)/(hi-lo) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%.0f" y="20">%s</text>`+"\n", pad, title)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", pad, h-pad, w-pad, h-pad)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", pad, pad, pad, h-pad)
	for _, t := range []float64{lo, (lo + hi) / 2, hi} {
		fmt.Fprintf(&b, `<text x="4" y="%.1f">%.4g</text>`+"\n", y(t)+4, t)
	}
	if lo <= 0.9 && hi >= 0.9 && lo > 0 {
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="gray" stroke-dasharray="2,3"/>`+"\n", pad, y(0.9), w-pad, y(0.9))
	}
	if shift > 0 {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="gray" stroke-dasharray="6,4"/><text x="%.1f" y="%.0f">shift</text>`+"\n",
			x(shift), pad, x(shift), h-pad, x(shift)+4, pad+12)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">item</text>`+"\n", w/2, h-8)
	for si, s := range series {
		c := colors[si%len(colors)]
		var pts []string
		for i, v := range s {
			if v < 0 {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(min(max(v, lo), hi))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", c, strings.Join(pts, " "))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="%s">%s</text>`+"\n", w-pad-200, pad+14*float64(si+1), c, names[si])
	}
	b.WriteString("</svg>\n")
	return b.String()
}
