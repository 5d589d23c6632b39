package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/configs"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/tokenizer"
	"github.com/edgecascade/edgecascade/uq"
	"github.com/edgecascade/edgecascade/uq/calib"
	"github.com/edgecascade/edgecascade/uq/labelled"
)

// dataFlags are the flags shared by calibrate and eval.
type dataFlags struct {
	data     string
	matcher  string
	cacheDir string
	offset   int
	limit    int
}

func (f *dataFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.data, "data", "", "labelled JSONL file: {\"prompt\", \"answer\", \"task\"?} per line (required)")
	cmd.Flags().StringVar(&f.matcher, "matcher", labelled.MatchExact, "how answers are judged: exact, case-insensitive, numeric, contains")
	cmd.Flags().StringVar(&f.cacheDir, "cache-dir", "", "answer cache folder (default: the user cache folder/edgecascade/answers)")
	cmd.Flags().IntVar(&f.offset, "offset", 0, "skip the first N items (e.g. to train a probe and calibrate on different items)")
	cmd.Flags().IntVar(&f.limit, "limit", 0, "use at most N items after the offset (0: all)")
}

// label names the data and, when a slice of it was used, which items.
func (f *dataFlags) label(n int) string {
	name := filepath.Base(f.data)
	if f.offset > 0 || f.limit > 0 {
		name += fmt.Sprintf(" (items %d-%d)", f.offset+1, f.offset+n)
	}
	return name
}

func (f *dataFlags) cacheFolder() (string, error) {
	if f.cacheDir != "" {
		return f.cacheDir, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder: pass --cache-dir: %w", err)
	}
	return filepath.Join(dir, "edgecascade", "answers"), nil
}

// digester is implemented by backends that can name the exact model build.
type digester interface {
	Digest(ctx context.Context) (string, error)
}

// dataRun is a prepared run over a labelled file.
type dataRun struct {
	items    []labelled.Item
	hash     string
	digest   string
	runner   *labelled.Runner
	caches   []*labelled.Cache
	scorers  []string
	local    models.Model
	provider cloud.Provider
	deps     *deps
}

func (r *dataRun) close() {
	for _, c := range r.caches {
		_ = c.Close()
	}
	r.deps.close()
}

// prepareRun loads the data, checks the local model is up, and opens the
// answer caches; withCloud also sets up the cloud provider.
func (a *app) prepareRun(ctx context.Context, cfg *configs.Config, f *dataFlags, withCloud bool, label string) (*dataRun, error) {
	if f.data == "" {
		return nil, errors.New("--data is required")
	}
	match, err := labelled.NewMatcher(f.matcher)
	if err != nil {
		return nil, err
	}
	items, hash, err := labelled.Load(f.data)
	if err != nil {
		return nil, err
	}
	if f.offset < 0 || f.limit < 0 {
		return nil, errors.New("--offset and --limit must not be negative")
	}
	if f.offset >= len(items) {
		return nil, fmt.Errorf("--offset %d skips all %d items of %s", f.offset, len(items), f.data)
	}
	items = items[f.offset:]
	if f.limit > 0 && f.limit < len(items) {
		items = items[:f.limit]
	}
	dp, err := loadDeps(ctx, cfg)
	if err != nil {
		return nil, err
	}
	local := dp.local
	if err := local.Ping(ctx); err != nil {
		dp.close()
		return nil, err
	}
	run := &dataRun{items: items, hash: hash, local: local, deps: dp}
	if d, ok := local.(digester); ok {
		if run.digest, err = d.Digest(ctx); err != nil {
			run.close()
			return nil, err
		}
	}
	dir, err := f.cacheFolder()
	if err != nil {
		run.close()
		return nil, err
	}
	lc, err := labelled.OpenCache(dir, labelled.LocalCacheName(local.Name(), run.digest, cfg.Local.TopLogprobs))
	if err != nil {
		run.close()
		return nil, err
	}
	run.caches = append(run.caches, lc)
	scorers, err := enabledScorers(cfg, dp)
	if err != nil {
		run.close()
		return nil, err
	}
	for _, s := range scorers {
		run.scorers = append(run.scorers, s.Name())
	}
	run.runner = &labelled.Runner{Local: local, LocalCache: lc, TopLogprobs: cfg.Local.TopLogprobs, Scorers: scorers, Match: match,
		Clean: uq.NewStripper(cfg.UQ.SelfRef.Tokens...).Strip}
	if withCloud {
		if run.provider, err = newCloud(cfg); err != nil {
			run.close()
			return nil, err
		}
		cc, err := labelled.OpenCache(dir, labelled.CloudCacheName(cfg.Cloud.Provider, cfg.CloudBaseURL(), cfg.Cloud.Model))
		if err != nil {
			run.close()
			return nil, err
		}
		run.caches = append(run.caches, cc)
		run.runner.Cloud, run.runner.CloudCache = run.provider, cc
		if run.runner.Counter, err = tokenCounter(cfg); err != nil {
			run.close()
			return nil, err
		}
	}
	cached := 0
	for _, it := range items {
		if lc.Has(it.Prompt) {
			cached++
		}
	}
	fmt.Fprintf(a.stderr, "%s: %d items from %s; local %s; answers cached in %s (%d of %d items cached)\n",
		label, len(items), f.data, local.Name(), dir, cached, len(items))
	run.runner.Progress = newProgress(a.stderr, len(items), label)
	return run, nil
}

// tokenCounter estimates the cloud's token counts where it reported none:
// the local model's tokenizer (local.tokenizer) or 4 bytes a token.
func tokenCounter(cfg *configs.Config) (labelled.TokenCounter, error) {
	if cfg.Local.Tokenizer == "" {
		return tokenizer.Approx{}, nil
	}
	tk, err := tokenizer.Load(cfg.Local.Tokenizer)
	if err != nil {
		return nil, fmt.Errorf("local.tokenizer: %w", err)
	}
	return tk, nil
}

// execute runs the items; on Ctrl-C it says what was kept.
func (a *app) execute(ctx context.Context, run *dataRun) ([]labelled.Record, error) {
	records, err := run.runner.Run(ctx, run.items)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("interrupted after %d of %d items; every finished answer is cached, re-run to continue", len(records), len(run.items))
		}
		return nil, err
	}
	return records, nil
}

func (a *app) calibrateCmd() *cobra.Command {
	var (
		df                                                             dataFlags
		out, scorer                                                    string
		fromLog                                                        bool
		groups                                                         int
		targetAcc, delta, targetRate, lambda, cloudAcc, localC, cloudC float64
		obj                                                            objectiveFlags
	)
	cmd := &cobra.Command{
		Use:   "calibrate --data FILE --out calibration.json (--target-accuracy A | --target-cloud-rate R | --cost-lambda L)",
		Short: "Run the local model over labelled data and pick the escalation threshold",
		Long: `calibrate runs the configured local model over a labelled JSONL file, scores
every answer with every scorer, judges it with the matcher, and writes a
calibration file that serve loads (setting cascade.calibration) with a
threshold and a score-to-probability map per scorer. Answers are cached, so a
re-run with another target is instant, and Ctrl-C keeps what was done.

Methods (choose one):
  --target-accuracy A [--delta D]  lowest threshold whose Clopper-Pearson upper
                                   bound on the error of accepted answers is
                                   below 1-A, tested in fixed sequence
                                   (Learn-then-Test): accepted answers are at
                                   least A right with probability >= 1-D.
  --target-cloud-rate R            escalate at most the share R (RouteLLM-style).
  --cost-lambda L                  maximize accuracy - L*cost, with per-call
                                   costs --local-cost/--cloud-cost and the
                                   cloud's accuracy --cloud-accuracy.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			spec, err := specFromFlags(cmd, targetAcc, delta, targetRate, lambda, cloudAcc, localC, cloudC)
			if err != nil {
				return err
			}
			if scorer == "" {
				scorer = cfg.Cascade.Scorer
			}
			if err := checkGroupsFlag(groups, fromLog, len(cfg.LaterStages()) > 0); err != nil {
				return err
			}
			if fromLog {
				return a.calibrateFromLog(cmd.Context(), cfg, scorer, spec, out)
			}
			switch scorer {
			case uq.Combined, uq.Probe:
			default:
				if _, err := uq.Build(scorer, cfg.ScorerOptions()); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			if len(cfg.LaterStages()) > 0 {
				return a.calibrateStages(ctx, cfg, &df, spec, obj, out)
			}
			run, err := a.prepareRun(ctx, cfg, &df, false, "calibrate")
			if err != nil {
				return err
			}
			defer run.close()
			records, err := a.execute(ctx, run)
			if err != nil {
				return err
			}
			meta := labelled.Meta{
				LocalModel: run.local.Name(), LocalDigest: run.digest, Data: df.label(len(run.items)), DataHash: run.hash, Matcher: df.matcher,
			}
			file, err := labelled.Calibrate(records, run.scorers, scorer, spec, meta, time.Now())
			if err != nil {
				return err
			}
			if groups > 0 {
				if file.Groups, err = a.fitGroups(ctx, cfg, run, records, groups, scorer, spec, meta); err != nil {
					return err
				}
			}
			if err := file.WriteFile(out); err != nil {
				return err
			}
			a.printCalibration(file, out)
			if file.Groups != nil {
				a.printGroups(file.Groups)
			}
			return nil
		},
	}
	df.register(cmd)
	cmd.Flags().StringVar(&out, "out", "calibration.json", "calibration file to write")
	cmd.Flags().StringVar(&scorer, "scorer", "", "scorer to calibrate for (default: cascade.scorer)")
	cmd.Flags().BoolVar(&fromLog, "from-log", false, "calibrate on the deployment's own labels in the decision log (feedback, agreement, exploration: docs/adaptation.md) instead of --data")
	cmd.Flags().IntVar(&groups, "groups", 0, "also fit K clusters of the prompts' embeddings (local.embed_model) for per-group thresholds with adapt.enabled (docs/adaptation.md); 0: none")
	cmd.Flags().Float64Var(&targetAcc, "target-accuracy", 0, "target accuracy of accepted local answers, e.g. 0.95")
	cmd.Flags().Float64Var(&delta, "delta", 0.1, "allowed probability that the accuracy guarantee fails")
	cmd.Flags().Float64Var(&targetRate, "target-cloud-rate", 0, "share of requests to escalate, e.g. 0.3")
	cmd.Flags().Float64Var(&lambda, "cost-lambda", 0, "accuracy given up per unit of cost")
	cmd.Flags().Float64Var(&cloudAcc, "cloud-accuracy", 1, "assumed accuracy of the cloud model (for --cost-lambda)")
	cmd.Flags().Float64Var(&localC, "local-cost", 0, "cost of one local call (for --cost-lambda)")
	cmd.Flags().Float64Var(&cloudC, "cloud-cost", 1, "cost of one cloud call (for --cost-lambda)")
	obj.register(cmd)
	settingFlags(cmd.Flags())
	return cmd
}

func specFromFlags(cmd *cobra.Command, targetAcc, delta, targetRate, lambda, cloudAcc, localC, cloudC float64) (labelled.Spec, error) {
	var spec labelled.Spec
	n := 0
	for _, name := range []string{"target-accuracy", "target-cloud-rate", "cost-lambda"} {
		if cmd.Flags().Changed(name) {
			n++
		}
	}
	if n != 1 {
		return spec, errors.New("choose exactly one of --target-accuracy, --target-cloud-rate or --cost-lambda")
	}
	switch {
	case cmd.Flags().Changed("target-accuracy"):
		spec = labelled.Spec{Method: calib.MethodTargetAccuracy, Params: calib.Params{TargetAccuracy: targetAcc, Delta: delta}}
	case cmd.Flags().Changed("target-cloud-rate"):
		spec = labelled.Spec{Method: calib.MethodTargetCloudRate, Params: calib.Params{TargetCloudRate: targetRate}}
	default:
		spec = labelled.Spec{Method: calib.MethodCostTradeoff, Params: calib.Params{CostLambda: lambda, CloudAccuracy: cloudAcc, LocalCost: localC, CloudCost: cloudC}}
	}
	return spec, nil
}

func (a *app) printCalibration(f *calib.File, path string) {
	fmt.Fprintf(a.stdout, "wrote %s (local model %s, %d items, %d right locally)\n\n", path, f.LocalModel, f.Items, f.Correct)
	fmt.Fprintf(a.stdout, "%-14s %-10s %-8s %-10s %-18s %s\n", "SCORER", "THRESHOLD", "AUROC", "LOCAL", "ACCEPTED ACCURACY", "")
	for _, name := range sortedKeys(f.Scorers) {
		fit := f.Scorers[name]
		auroc := "n/a"
		if fit.AUROC != nil {
			auroc = fmt.Sprintf("%.3f", *fit.AUROC)
		}
		mark := ""
		if name == f.Scorer {
			mark = "<- cascade.scorer"
		}
		if fit.Threshold == nil {
			fmt.Fprintf(a.stdout, "%-14s %-10s %-8s %s %s\n", name, "none", auroc, fit.Error, mark)
			continue
		}
		fmt.Fprintf(a.stdout, "%-14s %-10.4f %-8s %-10s %-18s %s\n", name, *fit.Threshold, auroc,
			fmt.Sprintf("%.1f%%", 100*fit.Result.Coverage), fmt.Sprintf("%.1f%%", 100*fit.Result.AcceptedAccuracy), mark)
	}
	if fit, ok := f.Scorers[f.Scorer]; ok && fit.Result != nil {
		fmt.Fprintf(a.stdout, "\n%s\n", fit.Result.Guarantee)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// enabledScorers are the scorers a data run records: the logprob scorers
// always, selfref when it is the configured scorer (on a model without
// confidence tokens it would only repeat its fallback), and the probes that
// are configured.
func enabledScorers(cfg *configs.Config, d *deps) ([]uq.Scorer, error) {
	all, err := d.scorers(cfg)
	if err != nil {
		return nil, err
	}
	names := uq.Names()
	if cfg.Cascade.Scorer == uq.SelfRef {
		names = append(names, uq.SelfRef)
	}
	for _, n := range []string{uq.Probe, uq.PregenProbe} {
		if _, ok := all[n]; ok {
			names = append(names, n)
		}
	}
	out := make([]uq.Scorer, len(names))
	for i, n := range names {
		out[i] = all[n]
	}
	return out, nil
}
