package main

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgecascade/edgecascade/probe"
	"github.com/edgecascade/edgecascade/probe/train"
	"github.com/edgecascade/edgecascade/uq"
	"github.com/edgecascade/edgecascade/uq/labelled"
)

// probeTrainFlags are the flags of `probe train`.
type probeTrainFlags struct {
	df  dataFlags
	out string
	train.Options
}

func (f *probeTrainFlags) validate() error {
	switch {
	case f.df.data == "":
		return errors.New("--data is required")
	case f.out == "":
		return errors.New("--out is required")
	case !(f.Holdout > 0 && f.Holdout < 1):
		return fmt.Errorf("--holdout %v: want a share in (0, 1)", f.Holdout)
	case !(f.TargetWrong > 0 && f.TargetWrong < 1):
		return fmt.Errorf("--target-wrong %v: want a share in (0, 1)", f.TargetWrong)
	case !(f.Delta > 0 && f.Delta < 1):
		return fmt.Errorf("--delta %v: want a probability in (0, 1)", f.Delta)
	case math.IsNaN(f.L2) || math.IsInf(f.L2, 0) || f.L2 < 0:
		return fmt.Errorf("--l2 %v: want a finite value >= 0", f.L2)
	}
	return nil
}

func (a *app) probeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Hidden-state probes: train them on labelled data, run one on a feature vector",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(a.probeTrainCmd(), a.probePredictCmd())
	return cmd
}

func (a *app) probeTrainCmd() *cobra.Command {
	f := &probeTrainFlags{}
	cmd := &cobra.Command{
		Use:   "train --data FILE --out probe.onnx [--pregen]",
		Short: "Train a hidden-state probe that predicts whether the local answer is right",
		Long: `probe train runs the configured local model over a labelled JSONL file (answers
come from the same cache as calibrate, and are judged with --matcher), reads
the local model's final hidden state for every item, fits a logistic
regression of "the local answer is right" on it, and writes the probe as an
ONNX file for probe.path (answer probe) or probe.pregen_path (--pregen).

  answer probe (default)  reads the rendered conversation followed by the raw
                          local answer; serve scores answers with it
                          (cascade.scorer probe or combined).
  --pregen                reads the rendered conversation only, before any
                          answer exists; serve skips local generation and
                          escalates at once when its probability is at most
                          the threshold.

Features are cached beside the answers (Ctrl-C keeps what was done; a re-run
is instant).

Honest evaluation: items are split by a hash of their prompt: an item is held
out when the first 8 bytes of SHA-256 of its prompt, read as a fraction of
2^64, are below --holdout (so the split does not depend on the order or the
number of items, and repeated prompts fall on the same side). A probe fitted
on the other items is evaluated on the held-out ones (AUROC and accuracy).

The answer probe written is then refitted on all items. The pre-generation
probe's threshold is calibrated on the held-out items with the probe fitted
without them: the largest threshold T such that, with probability at least
1 - delta (--delta), at least the share --target-wrong of the queries skipped
(p(local right) <= T) are ones the local model gets wrong (Clopper-Pearson
bound, fixed-sequence testing, as calibrate --target-accuracy). That guarantee holds only
for the probe it was computed with, so with --pregen the file holds that
probe, not a refit. When no threshold can be certified the file stores none
and serve needs probe.pregen_threshold.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			// Training reads hidden states, not the configured probes: do
			// not load them (probe.path may name the file being trained).
			cfg.Probe.Path, cfg.Probe.PregenPath = "", ""
			ctx := cmd.Context()
			run, err := a.prepareRun(ctx, cfg, &f.df, false, "probe train")
			if err != nil {
				return err
			}
			defer run.close()
			fx, err := trainFeatureSource(run, cfg.Local.Backend)
			if err != nil {
				return err
			}
			records, err := a.execute(ctx, run)
			if err != nil {
				return err
			}
			dir, err := f.df.cacheFolder()
			if err != nil {
				return err
			}
			col := &train.Collector{Features: fx, Model: run.local.Name(), Digest: run.digest, Backend: cfg.Local.Backend,
				CacheDir: dir, Log: a.stderr, NewProgress: func(total int, label string) labelled.Progress {
					return newProgress(a.stderr, total, label)
				}}
			ds, err := col.Collect(ctx, f.Kind(), records)
			if err != nil {
				return err
			}
			res, err := train.Fit(ds, f.Options)
			if err != nil {
				return err
			}
			source := train.FeatureSource(cfg.Local.Backend)
			res.Meta.Model = run.local.Name()
			res.Meta.TrainedAt = time.Now()
			res.Meta.Extra[train.ExtraData] = f.df.label(len(run.items))
			res.Meta.Extra[train.ExtraDataHash] = run.hash
			res.Meta.Extra[train.ExtraFeatureSource] = source
			res.Meta.Extra[train.ExtraMatcher] = f.df.matcher
			if run.digest != "" {
				res.Meta.Extra[train.ExtraDigest] = run.digest
			}
			if err := probe.WriteFile(f.out, res.Model, res.Meta); err != nil {
				return err
			}
			a.printProbe(res, ds, f, source)
			return nil
		},
	}
	f.df.register(cmd)
	cmd.Flags().StringVar(&f.out, "out", "probe.onnx", "probe file to write (ONNX)")
	cmd.Flags().BoolVar(&f.Pregen, "pregen", false, "train the pre-generation probe (reads the prompt only) and calibrate its skip threshold")
	cmd.Flags().Float64Var(&f.Holdout, "holdout", 0.3, "share of items held out (by a hash of the prompt) for evaluation and the --pregen threshold")
	cmd.Flags().Float64Var(&f.TargetWrong, "target-wrong", 0.9, "--pregen: share of skipped queries the local model must get wrong")
	cmd.Flags().Float64Var(&f.Delta, "delta", 0.1, "--pregen: allowed probability that the threshold's guarantee fails")
	cmd.Flags().Float64Var(&f.L2, "l2", probe.DefaultTrainOptions().L2, "ridge penalty on the standardized weights")
	settingFlags(cmd.Flags())
	return cmd
}

// trainFeatureSource returns the run's local model as a source of probe
// features, or an error naming local.backend when it cannot give them.
func trainFeatureSource(run *dataRun, backend string) (uq.Features, error) {
	fx, err := run.deps.featureSource()
	if err != nil {
		return nil, fmt.Errorf("probe train: local.backend %q: %w (probes need a backend with feature extraction and chat-template rendering, such as ollama)", backend, err)
	}
	return fx, nil
}

func (a *app) printProbe(res *train.Result, ds *train.Data, f *probeTrainFlags, source string) {
	ev := res.Eval
	what := "answer probe"
	if f.Pregen {
		what = "pre-generation probe"
	}
	w := a.stdout
	fmt.Fprintf(w, "wrote %s: %s for local model %s\n", f.out, what, res.Meta.Model)
	pos := ds.Positives()
	fmt.Fprintf(w, "items:        %d with features, %d right locally (%.1f%%)", len(ds.Y), pos, 100*float64(pos)/float64(len(ds.Y)))
	if ds.Skipped > 0 {
		fmt.Fprintf(w, "; %d of %d left out, the backend rejected their text (first: %v)", ds.Skipped, ds.Items, ds.SkipErr)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "features:     %s, size %d (%s)\n", res.Meta.FeatureKind, res.Meta.FeatureSize, source)
	fmt.Fprintf(w, "held out:     %d items (sha256 of the prompt below %v of 2^64), fitted on the other %d\n", ev.Test, f.Holdout, ev.Train)
	auroc := "n/a (" + fmt.Sprint(ev.AUROCErr) + ")"
	if ev.AUROC != nil {
		auroc = fmt.Sprintf("%.3f", *ev.AUROC)
	}
	fmt.Fprintf(w, "held-out AUROC %s, accuracy %.3f at p >= 0.5 (majority class %.3f; %d of %d right locally)\n",
		auroc, ev.Accuracy, ev.Majority, ev.TestPositives, ev.Test)
	fmt.Fprintf(w, "written probe: fitted on %s, %d right (%s after %d iterations, training accuracy %.3f)\n",
		res.Meta.Extra[train.ExtraFittedOn], res.Meta.Positives, res.Stats.Status, res.Stats.Iterations, res.Stats.Accuracy)
	if !res.Stats.Converged {
		fmt.Fprintf(a.stderr, "warning: training did not converge (%s); try a larger --l2\n", res.Stats.Status)
	}
	if res.Stats.Float32Error > 1e-4 {
		fmt.Fprintf(a.stderr, "warning: the probe may lose up to %.2g of probability in float32 (onnxruntime): features have large means next to their spread\n", res.Stats.Float32Error)
	}
	if !f.Pregen {
		return
	}
	if res.Meta.Threshold == nil {
		fmt.Fprintf(w, "threshold:    none could be certified (see the warning); set probe.pregen_threshold to use this probe\n")
		fmt.Fprintf(a.stderr, "warning: no pre-generation threshold could be certified: %v. The file stores none, so serve needs probe.pregen_threshold set explicitly.\n", ev.ThresholdErr)
		return
	}
	fmt.Fprintf(w, "threshold:    %.6g (skip local generation when p(local right) <= it; skipped %.1f%% of held-out queries)\n",
		*res.Meta.Threshold, 100*ev.ThresholdResult.Coverage)
	fmt.Fprintf(w, "\n%s\n", ev.ThresholdGuaranteed)
}
