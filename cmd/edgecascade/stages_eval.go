//go:build !noeval

package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgecascade/edgecascade/configs"
	"github.com/edgecascade/edgecascade/uq/calib"
	"github.com/edgecascade/edgecascade/uq/report"
)

// evalStages is eval with cascade.stages: every stage over the data, and
// the stages report (uq/report.BuildStages) at the calibration file's joint
// thresholds, written into out.
func (a *app) evalStages(ctx context.Context, cfg *configs.Config, df *dataFlags, calibPath, out, samplesIn, samplesOut string) error {
	if calibPath == "" {
		return errors.New("with cascade.stages eval needs a calibration file from calibrate (--calibration or cascade.calibration)")
	}
	f, err := calib.ReadFile(calibPath)
	if err != nil {
		return err
	}
	if f.Stages == nil {
		return fmt.Errorf("%s has no joint calibration of the stages: re-run edgecascade calibrate with cascade.stages", calibPath)
	}
	var (
		samples []calib.JointSample
		label   string
	)
	names := configStageNames(cfg)
	models := []string{cfg.Local.Model}
	scorers := []string{cfg.Cascade.Scorer}
	for _, st := range cfg.LaterStages() {
		models, scorers = append(models, st.Model), append(scorers, st.Scorer)
	}
	if samplesIn != "" {
		// The per-item scores of an earlier run: no model is asked.
		if samples, err = readSamples(samplesIn, names); err != nil {
			return err
		}
		label = samplesIn
	} else {
		sr, err := a.runStages(ctx, cfg, df, "eval")
		if err != nil {
			return err
		}
		defer sr.first.close()
		if samples, err = sr.samples(); err != nil {
			return err
		}
		label = df.label(len(sr.first.items))
		if err := writeSamples(samplesOut, sr.names, samples); err != nil {
			return err
		}
	}
	in := report.StagesInput{Samples: samples, Costs: stageCostsOf(cfg, names), Target: f.Stages.Result.Objective.Target, Data: label}
	for s, name := range names[:len(models)] {
		fit, err := f.Stage(name, models[s], scorers[s])
		if err != nil {
			return fmt.Errorf("%s: %w", calibPath, err)
		}
		in.Chosen = append(in.Chosen, fit.Threshold)
		var alone *float64
		for _, al := range f.Stages.Alone {
			if al.Name == name {
				alone = &al.Result.Thresholds[0]
			}
		}
		in.Alone = append(in.Alone, alone)
	}
	in.StageByStage = f.Stages.StageByStage
	rep, err := report.BuildStages(in)
	if err != nil {
		return err
	}
	if err := rep.WriteStagesDir(out); err != nil {
		return err
	}
	fmt.Fprint(a.stdout, rep.Markdown())
	return nil
}
