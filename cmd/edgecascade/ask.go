package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/models"
)

func (a *app) askCmd() *cobra.Command {
	var policy string
	cmd := &cobra.Command{
		Use:   `ask "question"`,
		Short: "Answer one question through the cascade and print the answer, route and confidence",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			p, err := cascade.ParsePolicy(policy)
			if err != nil {
				return err
			}
			log := newLogger(a.stderr, cfg)
			// One question: the offline switch and the breaker apply; the
			// outbox and the budget belong to the daemon.
			provider, err := newCloud(cfg)
			if err != nil {
				return err
			}
			off, err := openOfflineFirst(cfg, log, provider, false, nil)
			if err != nil {
				return err
			}
			c, dp, err := build(cmd.Context(), cfg, log, off)
			if err != nil {
				return err
			}
			defer dp.close()
			q := strings.Join(args, " ")
			res, err := c.Answer(cmd.Context(), p, cascade.Request{Messages: []models.Message{{Role: "user", Content: q}}})
			if err != nil {
				return err
			}
			d := res.Decision
			conf := "n/a"
			if d.Confidence != nil {
				conf = fmt.Sprintf("%.3f", *d.Confidence)
			}
			fmt.Fprintln(a.stdout, res.Content)
			fmt.Fprintf(a.stdout, "\nroute: %s (confidence %s, threshold %.3f, scorer %s)\nreason: %s\n", d.Route, conf, d.Threshold, d.Scorer, d.Reason)
			return nil
		},
	}
	cmd.Flags().StringVar(&policy, "policy", "auto", "auto, local or cloud")
	settingFlags(cmd.Flags())
	return cmd
}
