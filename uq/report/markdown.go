package report

import (
	"fmt"
	"strings"
)

// na stands for a number that is undefined or was skipped.
const na = "n/a"

// Markdown renders the report as a Markdown document: a header, the
// baselines, a side-by-side table of the scorers and notes on skipped
// numbers, the guarantees, the per-task tables and links to the plots.
func (r *Report) Markdown() string {
	var b strings.Builder
	b.WriteString("# edgecascade evaluation report\n\n")
	r.writeHeader(&b)

	b.WriteString("## All records\n\n")
	writeGroup(&b, r.Overall, true)
	writeNotes(&b, r.Overall)

	if r.Overall.Costs != nil {
		b.WriteString("## Cloud cost\n\n")
		writeCosts(&b, r.Overall)
	}

	b.WriteString("## Guarantees\n\n")
	writeGuarantees(&b, r.Overall)

	if len(r.Tasks) > 0 {
		b.WriteString("## Per task\n\n")
		for _, g := range r.Tasks {
			fmt.Fprintf(&b, "### %s\n\n", taskTitle(g.Task))
			writeGroup(&b, g, false)
			writeNotes(&b, g)
		}
	}

	b.WriteString("## Plots\n\n")
	plots := []struct{ file, title string }{
		{PlotAccuracy, "Accuracy vs. cloud-call rate"},
		{PlotRiskCoverage, "Risk vs. coverage"},
		{PlotReliability, "Reliability diagram"},
	}
	for _, p := range plots {
		fmt.Fprintf(&b, "### %s\n\n![%s](%s.png)\n\n[SVG](%s.svg)\n\n", p.title, p.title, p.file, p.file)
	}

	return b.String()
}

// writeHeader writes the models, data and date.
func (r *Report) writeHeader(b *strings.Builder) {
	data := cell(r.Data)
	if r.Data == "" {
		data = "unknown"
	}
	if r.DataHash != "" {
		data += fmt.Sprintf(" (`%s`)", cell(r.DataHash))
	}
	names := make([]string, len(r.Overall.Scorers))
	for i, s := range r.Overall.Scorers {
		names[i] = cell(s.Name)
	}
	rows := [][2]string{
		{"Local model", orUnknown(r.LocalModel)},
		{"Cloud model", orUnknown(r.CloudModel)},
		{"Data", data},
		{"Records", fmt.Sprintf("%d (%d with a cloud label)", r.Overall.Records, r.Overall.CloudRecords)},
		{"Scorers", strings.Join(names, ", ")},
		{"Generated", r.Generated.Format("2006-01-02 15:04:05 MST")},
	}
	b.WriteString("| | |\n|---|---|\n")
	for _, row := range rows {
		fmt.Fprintf(b, "| %s | %s |\n", row[0], row[1])
	}
	b.WriteString("\n")
}

// writeGroup writes a group's baselines and scorer table; setup adds the
// rows that describe the scorers' configuration rather than the data.
func writeGroup(b *strings.Builder, g Group, setup bool) {
	fmt.Fprintf(b, "%d records, %d with a cloud label.\n\n", g.Records, g.CloudRecords)
	b.WriteString("| Router | Accuracy | Cloud-call rate |\n|---|---:|---:|\n")
	fmt.Fprintf(b, "| Always local | %s | 0%% |\n", pct(g.LocalAccuracy))
	fmt.Fprintf(b, "| Always cloud | %s | 100%% |\n", pctp(g.CloudAccuracy))
	fmt.Fprintf(b, "| Oracle (escalate exactly when only the cloud is right) | %s | %s |\n\n", pctp(g.OracleAccuracy), pctp(g.OracleCallRate))

	b.WriteString("| |")
	for _, s := range g.Scorers {
		fmt.Fprintf(b, " %s |", cell(s.Name))
	}
	b.WriteString("\n|---|")
	for range g.Scorers {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, row := range scorerRows(setup) {
		fmt.Fprintf(b, "| %s |", row.label)
		for _, s := range g.Scorers {
			fmt.Fprintf(b, " %s |", row.value(s))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// scorerRow is one row of the scorer table.
type scorerRow struct {
	label string
	value func(ScorerResult) string
}

// scorerRows lists the rows of the scorer table; setup adds the scorers'
// configuration first.
func scorerRows(setup bool) []scorerRow {
	cascade := func(f func(*CascadeResult) string) func(ScorerResult) string {
		return func(s ScorerResult) string {
			if s.Cascade == nil {
				return na
			}
			return f(s.Cascade)
		}
	}
	var rows []scorerRow
	if setup {
		rows = []scorerRow{
			{"Threshold (raw score)", func(s ScorerResult) string { return fmt.Sprintf("%.4g", s.Threshold) }},
			{"Threshold method", func(s ScorerResult) string { return orDash(cell(s.Method)) }},
			{"Calibration", func(s ScorerResult) string { return cell(s.Calibrator) }},
		}
	}
	return append(rows, []scorerRow{
		{"Cloud-call rate", func(s ScorerResult) string { return pct(s.CallRate) }},
		{"Accuracy: cascade", cascade(func(c *CascadeResult) string { return pct(c.Accuracy) })},
		{"Accuracy: random routing, same call rate", cascade(func(c *CascadeResult) string { return pct(c.RandomAccuracy) })},
		{"Accepted answers", func(s ScorerResult) string {
			if s.AcceptedAccuracy == nil {
				return "0"
			}
			return fmt.Sprintf("%d, %s right", s.Accepted, pct(*s.AcceptedAccuracy))
		}},
		{"Target accuracy of accepted answers", targetCell},
		{"AUROC", func(s ScorerResult) string { return num(s.AUROC) }},
		{"AUPRC", func(s ScorerResult) string { return num(s.AUPRC) }},
		{fmt.Sprintf("ECE (%d bins)", ReliabilityBins), func(s ScorerResult) string { return fmt.Sprintf("%.3f", s.ECE) }},
		{"Area under accuracy vs. call rate", cascade(func(c *CascadeResult) string { return fmt.Sprintf("%.3f", c.CurveArea) })},
		{fmt.Sprintf("Call rate for %s of always-cloud accuracy", pct(CloudFraction)), cascade(func(c *CascadeResult) string {
			return fmt.Sprintf("%s (accuracy %s)", pct(c.CallRateForCloudFraction), pct(c.AccuracyAtCloudFraction))
		})},
	}...)
}

// targetCell shows the target and whether it was met.
func targetCell(s ScorerResult) string {
	if s.Target == nil {
		return "—"
	}
	v := pct(*s.Target)
	if s.Delta != nil {
		v += fmt.Sprintf(" (δ %g)", *s.Delta)
	}
	switch {
	case s.TargetMet == nil:
		return v + ", " + na
	case *s.TargetMet:
		return v + ", met"
	default:
		return v + ", **not met**"
	}
}

// writeGuarantees writes one paragraph per scorer: the method's promise and
// what was realized on the data.
func writeGuarantees(b *strings.Builder, g Group) {
	for _, s := range g.Scorers {
		fmt.Fprintf(b, "- **%s** (", cell(s.Name))
		if s.Method != "" {
			fmt.Fprintf(b, "%s, ", cell(s.Method))
		}
		fmt.Fprintf(b, "threshold %.4g): ", s.Threshold)
		if s.Guarantee != "" {
			b.WriteString(strings.TrimSpace(oneLine(s.Guarantee)) + " ")
		} else {
			b.WriteString("No guarantee stated. ")
		}
		if s.AcceptedAccuracy == nil {
			fmt.Fprintf(b, "On this data no answer was accepted (all %d escalated)", g.Records)
		} else {
			fmt.Fprintf(b, "On this data %d of %d answers were accepted and %s of them were right",
				s.Accepted, g.Records, pct(*s.AcceptedAccuracy))
		}
		if s.Target != nil && s.TargetMet != nil {
			verdict := "met"
			if !*s.TargetMet {
				verdict = "not met"
			}
			fmt.Fprintf(b, ", against a target of %s: **%s**", pct(*s.Target), verdict)
		}
		b.WriteString(".\n")
	}
	b.WriteString("\n")
}

// hasNotes reports whether the group or any of its scorers has notes.
func hasNotes(g Group) bool {
	if len(g.Notes) > 0 {
		return true
	}
	for _, s := range g.Scorers {
		if len(s.Notes) > 0 {
			return true
		}
	}
	return false
}

// writeNotes writes the group's and its scorers' notes as a list.
func writeNotes(b *strings.Builder, g Group) {
	if !hasNotes(g) {
		return
	}
	for _, n := range g.Notes {
		fmt.Fprintf(b, "- %s\n", oneLine(n))
	}
	for _, s := range g.Scorers {
		for _, n := range s.Notes {
			fmt.Fprintf(b, "- %s: %s\n", cell(s.Name), oneLine(n))
		}
	}
	b.WriteString("\n")
}

// taskTitle names a task for a heading.
func taskTitle(task string) string {
	if task == "" {
		return "Records without a task"
	}
	return "Task " + cell(task)
}

// pct formats a share as a percentage with one decimal.
func pct(v float64) string {
	return strings.Replace(fmt.Sprintf("%.1f%%", 100*v), ".0%", "%", 1)
}

// pctp formats an optional share.
func pctp(v *float64) string {
	if v == nil {
		return na
	}
	return pct(*v)
}

// num formats an optional number with three decimals.
func num(v *float64) string {
	if v == nil {
		return na
	}
	return fmt.Sprintf("%.3f", *v)
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

// oneLine replaces line breaks with spaces.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// orUnknown returns s, or "unknown" when it is empty.
func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return cell(s)
}

// orDash returns s, or a dash when it is empty.
func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
