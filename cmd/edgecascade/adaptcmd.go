package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgecascade/edgecascade/agent/decisionlog"
	"github.com/edgecascade/edgecascade/configs"
	"github.com/edgecascade/edgecascade/uq/adapt"
	"github.com/edgecascade/edgecascade/uq/labelled"
)

// `edgecascade adapt status` and `edgecascade calibrate --from-log`.

func (a *app) adaptCmd() *cobra.Command {
	root := &cobra.Command{Use: "adapt", Short: "Learning from deployment: the online threshold (docs/adaptation.md)"}
	status := &cobra.Command{
		Use:   "status",
		Short: "Print the online threshold(s), the bound on accepted accuracy and the labels, by group",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			st, from, err := adaptStatus(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			a.printAdaptStatus(st, from)
			return nil
		},
	}
	settingFlags(status.Flags())
	root.AddCommand(status)
	return root
}

// adaptStatus asks the running daemon (its /healthz), else reads the saved
// state in data_dir.
func adaptStatus(ctx context.Context, cfg *configs.Config) (adapt.Status, string, error) {
	if body, err := daemonGet(ctx, cfg, daemonURL(cfg)+"/healthz"); err == nil {
		defer body.Close()
		var h struct {
			Adapt *adapt.Status `json:"adapt"`
		}
		if err := json.NewDecoder(body).Decode(&h); err != nil {
			return adapt.Status{}, "", fmt.Errorf("health from the daemon: %w", err)
		}
		if h.Adapt == nil {
			return adapt.Status{}, "", errors.New("the daemon runs without adaptation (adapt.enabled false)")
		}
		return *h.Adapt, "the daemon at " + daemonURL(cfg), nil
	}
	dir, err := cfg.DataPath()
	if err != nil {
		return adapt.Status{}, "", err
	}
	path := filepath.Join(dir, adaptFile)
	e, err := adapt.Load(path, adapt.Config{Target: adaptTarget(cfg), Delta: 1 - cfg.Adapt.Confidence, Window: cfg.Adapt.Window,
		MinLabels: cfg.Adapt.MinLabels, GroupMinLabels: cfg.Adapt.GroupMinLabels, CloudAccuracy: cfg.Adapt.CloudAccuracy})
	if err != nil {
		return adapt.Status{}, "", err
	}
	return e.Status(), path + " (no daemon answered)", nil
}

func (a *app) printAdaptStatus(st adapt.Status, from string) {
	fmt.Fprintf(a.stdout, "from %s\ntarget %.3f with confidence %.2f, window %d decisions\n\n", from, st.Target, st.Confidence, st.Window)
	fmt.Fprintf(a.stdout, "%-16s %-10s %-8s %-8s %-10s %-9s %-9s %-11s %s\n", "GROUP", "THRESHOLD", "OWN", "BOUND", "DECISIONS", "FEEDBACK", "AGREEMENT", "EXPLORATION", "")
	for _, w := range append([]adapt.WindowStatus{st.Global}, st.Groups...) {
		g, th, bound, note := w.Group, fmt.Sprintf("%.4f", w.Threshold), "n/a", ""
		if g == "" {
			g = "(global)"
		}
		if w.EscalateAll {
			th = "all→cloud"
		}
		if w.Bound != nil {
			bound = fmt.Sprintf("%.3f", *w.Bound)
		}
		if w.Below {
			note = "DRIFT: bound under the target, threshold raised"
		}
		fmt.Fprintf(a.stdout, "%-16s %-10s %-8t %-8s %-10d %-9d %-9d %-11d %s\n", g, th, w.Own, bound, w.Decisions,
			w.Labels[adapt.SourceFeedback], w.Labels[adapt.SourceAgreement], w.Labels[adapt.SourceExploration], note)
	}
}

// calibrateFromLog writes a calibration file from the deployment's own
// labels: every labelled decision of the log scored by scorer.
func (a *app) calibrateFromLog(ctx context.Context, cfg *configs.Config, scorer string, spec labelled.Spec, out string) error {
	var buf bytes.Buffer
	if err := exportDecisions(ctx, cfg, &buf); err != nil {
		return fmt.Errorf("read the decision log: %w", err)
	}
	var records []labelled.Record
	model, bySource := "", map[string]int{}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e decisionlog.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("decision log entry: %w", err)
		}
		if e.Label == nil || e.Score == nil || e.Scorer != scorer {
			continue
		}
		records = append(records, labelled.Record{Index: len(records), LocalCorrect: e.Label.Correct, Scores: map[string]float64{scorer: *e.Score}})
		model = e.LocalModel
		bySource[e.Label.Source]++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read the decision log: %w", err)
	}
	if len(records) == 0 {
		return fmt.Errorf("the decision log has no labelled decisions scored by %s (labels come from feedback, escalations and exploration: adapt.enabled)", scorer)
	}
	file, err := labelled.Calibrate(records, []string{scorer}, scorer, spec, labelled.Meta{
		LocalModel: model, Data: fmt.Sprintf("decision log labels (feedback %d, agreement %d, exploration %d)",
			bySource[adapt.SourceFeedback], bySource[adapt.SourceAgreement], bySource[adapt.SourceExploration]),
		Matcher: "adapt.agreement " + cfg.Adapt.Agreement,
	}, time.Now())
	if err != nil {
		return err
	}
	if err := file.WriteFile(out); err != nil {
		return err
	}
	a.printCalibration(file, out)
	return nil
}
