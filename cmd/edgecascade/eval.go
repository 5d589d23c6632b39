//go:build !noeval

package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgecascade/edgecascade/configs"
	"github.com/edgecascade/edgecascade/uq"
	"github.com/edgecascade/edgecascade/uq/calib"
	"github.com/edgecascade/edgecascade/uq/labelled"
	"github.com/edgecascade/edgecascade/uq/report"
)

func (a *app) evalCmd() *cobra.Command {
	var (
		df          dataFlags
		out, calibF string
		samplesIn   string
		samplesOut  string
	)
	cmd := &cobra.Command{
		Use:   "eval --data FILE --out DIR",
		Short: "Run the local model and the cloud over labelled data and report how the cascade trades accuracy for cloud calls",
		Long: `eval runs the local model and the cloud provider over a labelled JSONL file
(answers cached as in calibrate) and writes DIR/report.md, DIR/report.json and
plots (accuracy vs. cloud-call rate, risk-coverage, reliability) as PNG and SVG.
For each scorer it reports always-local, always-cloud, random routing, the
cascade at the calibrated threshold and the oracle router; AUROC, AUPRC, ECE,
the realized accuracy of accepted answers against the target, and the
accuracy vs. call-rate curve. Thresholds come from the calibration file
(--calibration, default cascade.calibration); without one, the configured
scorer is evaluated at cascade.threshold.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			if out == "" {
				return errors.New("--out is required")
			}
			if calibF == "" {
				calibF = cfg.Cascade.Calibration
			}
			ctx := cmd.Context()
			if len(cfg.LaterStages()) > 0 {
				return a.evalStages(ctx, cfg, &df, calibF, out, samplesIn, samplesOut)
			}
			run, err := a.prepareRun(ctx, cfg, &df, true, "eval")
			if err != nil {
				return err
			}
			defer run.close()
			setups, stack, err := scorerSetups(cfg, calibF, run.local.Name(), run.hash, a.stderr)
			if err != nil {
				return err
			}
			records, err := a.execute(ctx, run)
			if err != nil {
				return err
			}
			if stack != nil {
				for i := range records {
					if v, err := stack.Apply(records[i].Scores); err == nil {
						records[i].Scores[uq.Combined] = v
					}
				}
			}
			setups = presentSetups(setups, records, a.stderr)
			rep, err := report.Build(report.Input{
				Records: records, Scorers: setups, LocalModel: run.local.Name(), CloudModel: run.provider.Model(),
				Data: df.label(len(run.items)), DataHash: run.hash, Generated: time.Now().UTC(), Prices: cloudPrices(cfg),
			})
			if err != nil {
				return err
			}
			if err := rep.WriteDir(out); err != nil {
				return err
			}
			a.printEval(rep, out)
			return nil
		},
	}
	df.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", "folder for report.md, report.json and the plots (required)")
	cmd.Flags().StringVar(&calibF, "calibration", "", "calibration file (default: cascade.calibration)")
	cmd.Flags().StringVar(&samplesIn, "samples-in", "", "cascade.stages: report from the per-item scores of an earlier run (--samples-out) instead of running the models")
	cmd.Flags().StringVar(&samplesOut, "samples-out", "", "cascade.stages: also write every item's per-stage scores, labels and latencies to this JSONL file")
	settingFlags(cmd.Flags())
	return cmd
}

// cloudPrices are the configured per-1K-token prices of the cloud
// providers (Config.CloudProviders).
func cloudPrices(cfg *configs.Config) report.Prices {
	specs := cfg.CloudProviders()
	out := make(report.Prices, len(specs))
	for i, s := range specs {
		out[i] = report.PriceEntry{Provider: s.Provider, Model: s.Model, Price: price(s)}
	}
	return out
}

// scorerSetups takes every scorer with a threshold from the calibration file,
// or the configured scorer and threshold when there is no file.
func scorerSetups(cfg *configs.Config, path, localModel, dataHash string, warn io.Writer) ([]report.ScorerSetup, *uq.Stack, error) {
	if path == "" {
		return []report.ScorerSetup{{Name: cfg.Cascade.Scorer, Threshold: cfg.Cascade.Threshold, Method: "configured threshold"}}, nil, nil
	}
	f, err := calib.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if err := f.CheckModel(localModel); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.DataHash == dataHash {
		fmt.Fprintf(warn, "warning: evaluating on the calibration data itself (%s): the numbers will look better than on fresh data\n", f.Data)
	}
	var setups []report.ScorerSetup
	for _, name := range sortedKeys(f.Scorers) {
		fit := f.Scorers[name]
		if fit.Threshold == nil {
			fmt.Fprintf(warn, "scorer %s: no threshold in the calibration (%s); left out\n", name, fit.Error)
			continue
		}
		s := report.ScorerSetup{Name: name, Threshold: *fit.Threshold, Calibrator: fit.Map, Method: string(f.Method)}
		if fit.Result != nil {
			s.Guarantee = fit.Result.Guarantee
		}
		if f.Method == calib.MethodTargetAccuracy {
			s.Target, s.Delta = f.Params.TargetAccuracy, f.Params.Delta
		}
		setups = append(setups, s)
	}
	if len(setups) == 0 {
		return nil, nil, fmt.Errorf("%s has no scorer with a threshold", path)
	}
	return setups, f.Combined, nil
}

// presentSetups keeps the scorers whose scores the run recorded (a probe in
// the calibration but not configured now is left out, with a warning).
func presentSetups(setups []report.ScorerSetup, records []labelled.Record, warn io.Writer) []report.ScorerSetup {
	if len(records) == 0 {
		return setups
	}
	var out []report.ScorerSetup
	for _, s := range setups {
		if _, ok := records[0].Scores[s.Name]; ok {
			out = append(out, s)
		} else {
			fmt.Fprintf(warn, "scorer %s: calibrated but not run now (is its probe configured?); left out\n", s.Name)
		}
	}
	return out
}

func (a *app) printEval(rep *report.Report, out string) {
	g := rep.Overall
	fmt.Fprintf(a.stdout, "wrote %s/{%s,%s} and plots\n\n", out, report.MarkdownFile, report.JSONFile)
	fmt.Fprintf(a.stdout, "%d items: always-local %s, always-cloud %s, oracle %s\n\n", g.Records, pct(&g.LocalAccuracy), pct(g.CloudAccuracy), pct(g.OracleAccuracy))
	fmt.Fprintf(a.stdout, "%-14s %-7s %-10s %-10s %-12s %-10s %s\n", "SCORER", "AUROC", "CASCADE", "CALL RATE", "ACCEPTED", "TARGET", "CALL RATE FOR 95% OF CLOUD")
	for _, s := range g.Scorers {
		auroc := "n/a"
		if s.AUROC != nil {
			auroc = fmt.Sprintf("%.3f", *s.AUROC)
		}
		casc, rate95 := "n/a", "n/a"
		if s.Cascade != nil {
			casc = pct(&s.Cascade.Accuracy)
			rate95 = pct(&s.Cascade.CallRateForCloudFraction)
		}
		target := "-"
		if s.Target != nil {
			target = pct(s.Target)
			if s.TargetMet != nil && !*s.TargetMet {
				target += " (missed)"
			}
		}
		fmt.Fprintf(a.stdout, "%-14s %-7s %-10s %-10s %-12s %-10s %s\n", s.Name, auroc, casc, pct(&s.CallRate), pct(s.AcceptedAccuracy), target, rate95)
	}
	if c := g.Costs; c != nil {
		unit, spend := "cloud tokens per 1,000 queries", func(r report.CostResult) *float64 { return r.TokensPer1K }
		if c.Priced {
			unit, spend = "cloud cost per 1,000 queries", func(r report.CostResult) *float64 { return r.CostPer1K }
		}
		fmt.Fprintf(a.stdout, "\n%s: always-cloud %s, oracle %s", unit, amount(spend(c.AlwaysCloud)), amount(spend(c.Oracle)))
		for _, s := range g.Scorers {
			if s.Cascade != nil {
				fmt.Fprintf(a.stdout, ", cascade %s %s (saves %s)", s.Name, amount(spend(s.Cascade.Cost)), pct(s.Cascade.Cost.Savings))
			}
		}
		fmt.Fprintln(a.stdout)
		if !c.Priced {
			fmt.Fprintln(a.stdout, "(no prices configured: set cloud.cost_input_per_1k and cloud.cost_output_per_1k for costs)")
		}
	}
}

// amount formats a token count or cost, "unknown" when it is.
func amount(v *float64) string {
	if v == nil {
		return "unknown"
	}
	if *v >= 100 {
		return fmt.Sprintf("%.0f", *v)
	}
	return fmt.Sprintf("%.4g", *v)
}

func pct(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100**v)
}
