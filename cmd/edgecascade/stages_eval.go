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
func (a *app) evalStages(ctx context.Context, cfg *configs.Config, df *dataFlags, calibPath, out, samplesOut string) error {
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
	sr, err := a.runStages(ctx, cfg, df, "eval")
	if err != nil {
		return err
	}
	defer sr.first.close()
	samples, err := sr.samples()
	if err != nil {
		return err
	}
	if err := writeSamples(samplesOut, sr.names, samples); err != nil {
		return err
	}
	in := report.StagesInput{Samples: samples, Costs: sr.costs(cfg), Target: f.Stages.Result.Objective.Target, Data: df.label(len(sr.first.items))}
	for s, name := range sr.names[:len(sr.models)] {
		fit, err := f.Stage(name, sr.models[s], sr.scorers[s])
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
