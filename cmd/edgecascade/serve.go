package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgecascade/edgecascade/agent"
	"github.com/edgecascade/edgecascade/agent/decisionlog"
)

func (a *app) serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: an OpenAI-compatible API on the configured listen address",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			log := newLogger(a.stderr, cfg)
			c, d, err := build(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer d.close()
			var decisions *decisionlog.Log
			if cfg.Log.Decisions {
				if decisions, err = openDecisionLog(cfg, log); err != nil {
					return err
				}
				defer decisions.Close() // after the HTTP drain: writes what is queued
			}
			srv := agent.NewServer(c, agent.ServerConfig{
				LogContent:   cfg.Log.Content,
				MaxBodyBytes: cfg.Server.MaxBodyBytes,
				Backend:      cfg.Local.Backend, LocalURL: cfg.LocalURL(),
				CloudProvider: cfg.Cloud.Provider, CloudURL: cfg.CloudBaseURL(),
			}, log)
			if decisions != nil {
				srv.SetDecisions(decisions)
			}

			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
			}
			hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			rt := c.Routing()
			log.Info("edgecascade serving", "version", version, "addr", ln.Addr().String(),
				"local", cfg.Local.Model, "cloud", cfg.Cloud.Model, "scorer", rt.Scorer.Name(), "threshold", rt.Threshold, "calibration", rt.Source)
			// The line below is what scripts wait for.
			fmt.Fprintf(a.stdout, "listening on http://%s\n", ln.Addr())

			ctx := cmd.Context()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
		wait:
			for {
				select {
				case err := <-errc:
					return fmt.Errorf("serve: %w", err)
				case <-hup:
					// Reload the calibration (and threshold); keep the old
					// routing when the new one is bad. Probes are loaded
					// once, at start.
					rcfg, err := a.loadConfig(cmd)
					if err == nil {
						var r agent.Routing
						if r, err = loadRouting(rcfg, d); err == nil {
							c.SetRouting(r)
							log.Info("reloaded routing", "scorer", r.Scorer.Name(), "threshold", r.Threshold, "calibration", r.Source)
							continue
						}
					}
					log.Error("reload failed; keeping the routing in force", "err", err)
				case <-ctx.Done():
					break wait
				}
			}
			log.Info("shutting down: draining in-flight requests", "deadline", cfg.Server.ShutdownTimeout)
			sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
			defer cancel()
			// A second signal cuts the drain short.
			second := make(chan os.Signal, 1)
			signal.Notify(second, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(second)
			go func() {
				select {
				case <-second:
					log.Warn("second signal: stopping now")
					cancel()
				case <-sctx.Done():
				}
			}()
			if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.Canceled) {
				_ = hs.Close()
				return fmt.Errorf("shutdown: %w", err)
			}
			log.Info("stopped")
			return nil
		},
	}
	settingFlags(cmd.Flags())
	return cmd
}
