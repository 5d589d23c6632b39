package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgecascade/edgecascade/agent/decisionlog"
	"github.com/edgecascade/edgecascade/configs"
)

const decisionFile = "decisions.db"

// openDecisionLog opens the daemon's decision log in the data folder, with a
// clear error when the folder cannot be written.
func openDecisionLog(cfg *configs.Config, log *slog.Logger) (*decisionlog.Log, error) {
	dir, err := cfg.DataPath()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir %s: %w (set data_dir to a writable folder, or log.decisions false)", dir, err)
	}
	l, err := decisionlog.Open(filepath.Join(dir, decisionFile), decisionlog.Options{
		MaxAge: cfg.Log.Retention, MaxEntries: cfg.Log.MaxEntries, Log: log,
	})
	if err != nil {
		return nil, fmt.Errorf("data_dir: %w (set data_dir to a writable folder, or log.decisions false)", err)
	}
	return l, nil
}

func (a *app) logCmd() *cobra.Command {
	root := &cobra.Command{Use: "log", Short: "Read the decision log"}
	var n int
	tail := &cobra.Command{
		Use:   "tail",
		Short: "Print the last decisions, one line each",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			entries, err := tailDecisions(cmd.Context(), cfg, n)
			if err != nil {
				return err
			}
			for _, e := range entries {
				conf := "   n/a"
				if e.Confidence != nil {
					conf = fmt.Sprintf("%.4f", *e.Confidence)
				}
				fmt.Fprintf(a.stdout, "%s %-5s %-5s conf %s  local %6.0fms cloud %6.0fms  %s\n",
					e.Time.Local().Format(time.DateTime), e.Policy, e.Route, conf, e.LocalMS, e.CloudMS, e.Reason)
			}
			return nil
		},
	}
	tail.Flags().IntVarP(&n, "n", "n", 20, "how many decisions")
	var jsonl bool
	var out string
	export := &cobra.Command{
		Use:   "export --jsonl [--out FILE]",
		Short: "Write every decision as JSON lines (what recalibration consumes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !jsonl {
				return errors.New("choose the format: --jsonl")
			}
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			w := a.stdout
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			return exportDecisions(cmd.Context(), cfg, w)
		},
	}
	export.Flags().BoolVar(&jsonl, "jsonl", false, "JSON lines")
	export.Flags().StringVar(&out, "out", "", "file to write (default: standard output)")
	for _, c := range []*cobra.Command{tail, export} {
		settingFlags(c.Flags())
		root.AddCommand(c)
	}
	return root
}

// A running daemon holds the log file, so the commands ask it first over
// its API and read the file only when no daemon answers.
func daemonURL(cfg *configs.Config) string { return "http://" + cfg.Listen }

func tailDecisions(ctx context.Context, cfg *configs.Config, n int) ([]decisionlog.Entry, error) {
	if body, err := daemonGet(ctx, cfg, fmt.Sprintf("%s/v1/cascade/decisions?n=%d", daemonURL(cfg), n)); err == nil {
		defer body.Close()
		var doc struct {
			Data []decisionlog.Entry `json:"data"`
		}
		if err := json.NewDecoder(body).Decode(&doc); err != nil {
			return nil, fmt.Errorf("decisions from the daemon: %w", err)
		}
		return doc.Data, nil
	}
	l, err := openReadOnly(cfg)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	return l.Tail(ctx, n)
}

func exportDecisions(ctx context.Context, cfg *configs.Config, w io.Writer) error {
	if body, err := daemonGet(ctx, cfg, daemonURL(cfg)+"/v1/cascade/decisions/export"); err == nil {
		defer body.Close()
		_, err := io.Copy(w, body)
		return err
	}
	l, err := openReadOnly(cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	_, err = l.Export(ctx, w)
	return err
}

// daemonGet asks the daemon, with the bearer token when one is configured.
func daemonGet(ctx context.Context, cfg *configs.Config, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if tok := cfg.Server.AuthToken.Reveal(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	// Give up quickly when no daemon listens, but let a long export stream
	// as long as it takes.
	client := &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		ResponseHeaderTimeout: 10 * time.Second,
	}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("daemon: %s", resp.Status)
	}
	return resp.Body, nil
}

func openReadOnly(cfg *configs.Config) (*decisionlog.Log, error) {
	dir, err := cfg.DataPath()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, decisionFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no decision log at %s (no daemon answered at %s either): %w", path, cfg.Listen, err)
	}
	return decisionlog.OpenReadOnly(path)
}
