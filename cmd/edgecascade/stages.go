package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgecascade/edgecascade/configs"
	"github.com/edgecascade/edgecascade/uq/calib"
	"github.com/edgecascade/edgecascade/uq/labelled"
)

// The labelled runs of a cascade with more than one local stage
// (cascade.stages): every local stage answers every item (answers cached
// per model), the cloud answers every item once, and the answers become
// joint samples for calibrate's joint search and eval's stages report.

// stageRuns are the records of every local stage over the same items, the
// first stage's with the cloud's answers.
type stageRuns struct {
	names   []string // every stage, the cloud last
	models  []string // the local stages' models
	scorers []string // the local stages' scorers
	records [][]labelled.Record
	// first is the first stage's run (its model's digest, the data's hash).
	first *dataRun
}

// stageConfig is cfg with the local stage s as the local model.
func stageConfig(cfg *configs.Config, s configs.StageConfig) *configs.Config {
	sc := *cfg
	sc.Local.Backend, sc.Local.URL, sc.Local.Model, sc.Cascade.Scorer = s.Backend, s.URL, s.Model, s.Scorer
	sc.Probe.Path, sc.Probe.PregenPath = "", "" // probes belong to the first model
	return &sc
}

// runStages runs every local stage (and, with the first, the cloud) over
// the data; the caller closes the returned first run.
func (a *app) runStages(ctx context.Context, cfg *configs.Config, df *dataFlags, label string) (*stageRuns, error) {
	first, err := a.prepareRun(ctx, cfg, df, true, label+" ("+cfg.Cascade.Stages[0].Name+" and the cloud)")
	if err != nil {
		return nil, err
	}
	recs, err := a.execute(ctx, first)
	if err != nil {
		first.close()
		return nil, err
	}
	local, cloudName := cfg.StageNames()
	sr := &stageRuns{names: []string{local}, models: []string{first.local.Name()}, scorers: []string{cfg.Cascade.Scorer},
		records: [][]labelled.Record{recs}, first: first}
	for _, s := range cfg.LaterStages() {
		run, err := a.prepareRun(ctx, stageConfig(cfg, s), df, false, label+" ("+s.Name+")")
		if err != nil {
			first.close()
			return nil, fmt.Errorf("stage %s: %w", s.Name, err)
		}
		recs, err := a.execute(ctx, run)
		run.close()
		if err != nil {
			first.close()
			return nil, fmt.Errorf("stage %s: %w", s.Name, err)
		}
		sr.names, sr.models, sr.scorers = append(sr.names, s.Name), append(sr.models, s.Model), append(sr.scorers, s.Scorer)
		sr.records = append(sr.records, recs)
	}
	sr.names = append(sr.names, cloudName)
	return sr, nil
}

// samples are the joint samples of the runs, with the measured latencies.
func (sr *stageRuns) samples() ([]calib.JointSample, error) {
	k := len(sr.records)
	n := len(sr.records[0])
	out := make([]calib.JointSample, n)
	for i := range out {
		x := calib.JointSample{Scores: make([]float64, k), Correct: make([]bool, k), Latency: make([]float64, k+1)}
		for s := range k {
			r := sr.records[s][i]
			v, ok := r.Scores[sr.scorers[s]]
			if !ok {
				return nil, fmt.Errorf("stage %s: item %d has no %s score (its answer could not be scored)", sr.names[s], i, sr.scorers[s])
			}
			x.Scores[s], x.Correct[s], x.Latency[s] = v, r.LocalCorrect, r.LocalLatency.Seconds()
		}
		c := sr.records[0][i]
		if c.CloudCorrect == nil {
			return nil, fmt.Errorf("item %d has no cloud answer", i)
		}
		x.CloudCorrect, x.Latency[k] = *c.CloudCorrect, c.CloudLatency.Seconds()
		out[i] = x
	}
	return out, nil
}

// costs are the stages' costs where a sample does not say: the configured
// energy estimates and the cloud's mean price an answer.
func (sr *stageRuns) costs(cfg *configs.Config) []calib.StageCost {
	return stageCostsOf(cfg, sr.names)
}

// stageCostsOf are the stages' costs by name: the configured energy
// estimates (latencies are measured per item).
func stageCostsOf(cfg *configs.Config, names []string) []calib.StageCost {
	energy := cfg.StageEnergy()
	out := make([]calib.StageCost, len(names))
	for i, name := range names {
		out[i].Name = name
		if i < len(energy) {
			out[i].Energy = energy[i]
		}
	}
	return out
}

// objectiveFlags are calibrate's objective beyond the target accuracy,
// for cascade.stages, and where to keep the joint samples.
type objectiveFlags struct {
	o          calib.Objective
	samplesOut string
}

// writeSamples writes the joint samples as JSONL (one item a line, every
// stage's score, label and latency), for analysis.
func writeSamples(path string, names []string, samples []calib.JointSample) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--samples-out: %w", err)
	}
	enc := json.NewEncoder(f)
	if err := enc.Encode(map[string]any{"stages": names}); err != nil {
		f.Close()
		return err
	}
	for _, x := range samples {
		if err := enc.Encode(x); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func (f *objectiveFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.Float64Var(&f.o.CloudWeight, "weight-cloud", 0, "cascade.stages: weight of the cloud share in the joint search's cost (all weights 0: the cloud share alone)")
	fl.Float64Var(&f.o.LatencyWeight, "weight-latency", 0, "cascade.stages: weight of the mean latency (seconds a query)")
	fl.Float64Var(&f.o.P95Weight, "weight-p95", 0, "cascade.stages: weight of the p95 latency (seconds)")
	fl.Float64Var(&f.o.EnergyWeight, "weight-energy", 0, "cascade.stages: weight of the energy (joules a query; stages' energy_j)")
	fl.Float64Var(&f.o.MaxCloudRate, "max-cloud-rate", 0, "cascade.stages: cap on the cloud share (0: none)")
	fl.Float64Var(&f.o.MaxMeanLatency, "max-latency", 0, "cascade.stages: cap on the mean latency in seconds (0: none)")
	fl.Float64Var(&f.o.MaxP95Latency, "max-p95", 0, "cascade.stages: cap on the p95 latency in seconds (0: none)")
	fl.Float64Var(&f.o.MaxEnergy, "max-energy", 0, "cascade.stages: cap on the energy a query in joules (0: none)")
	fl.StringVar(&f.samplesOut, "samples-out", "", "cascade.stages: also write every item's per-stage scores, labels and latencies to this JSONL file")
	fl.StringVar(&f.o.Walk, "walk", "", "cascade.stages: which local stage's threshold walks in fixed sequence while the others range over the grid: last (default), first or both")
	fl.IntVar(&f.o.Grid, "grid", 0, "cascade.stages: candidate thresholds of each local stage after the first (default 10)")
}

// stageSamples is one local stage alone before the cloud: the samples of
// stage s only.
func stageSamples(all []calib.JointSample, s int) []calib.JointSample {
	k := len(all[0].Scores)
	out := make([]calib.JointSample, len(all))
	for i, x := range all {
		out[i] = calib.JointSample{Scores: []float64{x.Scores[s]}, Correct: []bool{x.Correct[s]},
			Latency: []float64{x.Latency[s], x.Latency[k]}, CloudCorrect: x.CloudCorrect}
	}
	return out
}

func stageCosts(all []calib.StageCost, s int) []calib.StageCost {
	return []calib.StageCost{all[s], all[len(all)-1]}
}

// calibrateStages is calibrate with cascade.stages: the joint search over
// every local stage's threshold for the target accuracy, each local stage
// alone before the cloud as a baseline, written into the calibration file
// of the first stage's model.
func (a *app) calibrateStages(ctx context.Context, cfg *configs.Config, df *dataFlags, spec labelled.Spec, of objectiveFlags, out string) error {
	obj := of.o
	if spec.Method != calib.MethodTargetAccuracy {
		return errors.New("with cascade.stages calibrate takes --target-accuracy (the joint search certifies the accuracy of the local stages' answers)")
	}
	obj.Target, obj.Delta = spec.Params.TargetAccuracy, spec.Params.Delta
	sr, err := a.runStages(ctx, cfg, df, "calibrate")
	if err != nil {
		return err
	}
	defer sr.first.close()
	samples, err := sr.samples()
	if err != nil {
		return err
	}
	if err := writeSamples(of.samplesOut, sr.names, samples); err != nil {
		return err
	}
	costs := sr.costs(cfg)
	start := time.Now()
	res, err := calib.JointTargetAccuracy(samples, costs, obj)
	if err != nil {
		return fmt.Errorf("joint calibration of the stages: %w", err)
	}
	fit := &calib.StagesFit{Result: res}
	for s := range sr.models {
		fit.Stages = append(fit.Stages, calib.StageFit{Name: sr.names[s], Model: sr.models[s], Scorer: sr.scorers[s], Threshold: res.Thresholds[s]})
		// Each local stage alone before the cloud, at the same promise.
		if alone, err := calib.JointTargetAccuracy(stageSamples(samples, s), stageCosts(costs, s), obj); err == nil {
			fit.Alone = append(fit.Alone, calib.StageAlone{Name: sr.names[s], Result: alone})
		} else {
			fmt.Fprintf(a.stderr, "calibrate: %s alone before the cloud: %v\n", sr.names[s], err)
		}
	}
	if fit.StageByStage, err = calib.StageByStage(samples, obj.Target, obj.Delta); err != nil {
		return err
	}
	file, err := labelled.Calibrate(sr.records[0], sr.first.scorers, cfg.Cascade.Scorer, spec, labelled.Meta{
		LocalModel: sr.first.local.Name(), LocalDigest: sr.first.digest, Data: df.label(len(sr.first.items)), DataHash: sr.first.hash, Matcher: df.matcher,
	}, time.Now())
	if err != nil {
		return err
	}
	file.Stages = fit
	if err := file.WriteFile(out); err != nil {
		return err
	}
	printStagesFit(a.stdout, out, fit, time.Since(start))
	return nil
}

func printStagesFit(w io.Writer, path string, f *calib.StagesFit, took time.Duration) {
	r := f.Result
	fmt.Fprintf(w, "wrote %s: joint thresholds of %d local stages (%d paths, %d configurations tested in %s)\n\n", path, len(f.Stages), r.Paths, r.Tested, took.Round(time.Millisecond))
	fmt.Fprintf(w, "%-12s %-14s %-14s %-10s %s\n", "STAGE", "MODEL", "SCORER", "THRESHOLD", "ANSWERS")
	for i, s := range f.Stages {
		fmt.Fprintf(w, "%-12s %-14s %-14s %-10.4f %.1f%%\n", s.Name, s.Model, s.Scorer, s.Threshold, 100*r.StageShare[i])
	}
	fmt.Fprintf(w, "%-12s %-14s %-14s %-10s %.1f%%\n\n", "(cloud)", "", "", "", 100*r.CloudRate)
	fmt.Fprintf(w, "accepted local answers %.1f%% right; mean latency %.0f ms (local %.0f ms), p95 %.0f ms\n",
		100*r.AcceptedAccuracy, 1000*r.MeanLatency, 1000*r.LocalLatency, 1000*r.P95Latency)
	for _, a := range f.Alone {
		fmt.Fprintf(w, "%s alone before the cloud: threshold %.4f, cloud %.1f%%\n", a.Name, a.Result.Thresholds[0], 100*a.Result.CloudRate)
	}
	if len(f.StageByStage) > 0 {
		fmt.Fprintf(w, "stage by stage: thresholds %v\n", f.StageByStage)
	}
	fmt.Fprintf(w, "\n%s\n", r.Guarantee)
}

// readSamples reads joint samples written by writeSamples, checking that
// they are of the stages names.
func readSamples(path string, names []string) ([]calib.JointSample, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--samples-in: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var head struct {
		Stages []string `json:"stages"`
	}
	if err := dec.Decode(&head); err != nil {
		return nil, fmt.Errorf("--samples-in %s: %w", path, err)
	}
	if !slices.Equal(head.Stages, names) {
		return nil, fmt.Errorf("--samples-in %s holds stages %v, the configuration has %v", path, head.Stages, names)
	}
	var out []calib.JointSample
	for dec.More() {
		var x calib.JointSample
		if err := dec.Decode(&x); err != nil {
			return nil, fmt.Errorf("--samples-in %s: item %d: %w", path, len(out), err)
		}
		if len(x.Scores) != len(names)-1 || len(x.Correct) != len(names)-1 {
			return nil, fmt.Errorf("--samples-in %s: item %d has %d scores for %d local stages", path, len(out), len(x.Scores), len(names)-1)
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--samples-in %s: no items", path)
	}
	return out, nil
}

// configStageNames are the names of the configured stages, the cloud last.
func configStageNames(cfg *configs.Config) []string {
	names := make([]string, len(cfg.Cascade.Stages))
	for i, s := range cfg.Cascade.Stages {
		names[i] = s.Name
	}
	return names
}
