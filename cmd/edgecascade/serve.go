package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/decisionlog"
	"github.com/edgecascade/edgecascade/agent/httpapi"
	"github.com/edgecascade/edgecascade/configs"
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
			loopback, err := checkBind(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			off, err := openOfflineFirst(cfg, log, true)
			if err != nil {
				return err
			}
			// Deferred last: after the HTTP drain, stop the outbox drain
			// (an item in flight is queued again) and close the databases.
			defer off.close()
			c, d, err := build(cmd.Context(), cfg, log, off)
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
			srv := httpapi.NewServer(c, off.serverConfig(httpapi.ServerConfig{
				AuthToken: cfg.Server.AuthToken, CORSOrigins: cfg.Server.CORSOrigins,
				CheckHost: loopback, AllowedHosts: cfg.Server.AllowedHosts,
				LogContent:   cfg.Log.Content,
				MaxBodyBytes: cfg.Server.MaxBodyBytes,
				Backend:      cfg.Local.Backend, LocalURL: cfg.LocalURL(),
				CloudProvider: cfg.Cloud.Provider, CloudURL: cfg.CloudBaseURL(),
				Admission: d.admission,
			}), log)
			off.onChange = srv.CloudStateChanged
			off.run(cmd.Context())
			if decisions != nil {
				srv.SetDecisions(decisions)
			}

			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
			}
			handler := srv.Handler()
			if cfg.Server.Pprof {
				handler = withPprof(handler)
				log.Info("serving runtime profiles", "path", "/debug/pprof/")
			}
			hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
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
						var r cascade.Routing
						if r, err = loadRouting(rcfg, d); err == nil {
							c.SetRouting(r)
							if rcfg.Offline != cfg.Offline {
								off.tracker.SetOffline(rcfg.Offline)
								cfg.Offline = rcfg.Offline
							}
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
			if err := hs.Shutdown(sctx); err != nil {
				// Requests still in flight: cut them, and say so in the exit
				// status (deferred closes still write the decision log).
				_ = hs.Close()
				if errors.Is(err, context.Canceled) {
					return errors.New("shutdown: a second signal stopped the drain; in-flight requests were cut")
				}
				return fmt.Errorf("shutdown: in-flight requests outlasted server.shutdown_timeout %s and were cut: %w", cfg.Server.ShutdownTimeout, err)
			}
			log.Info("stopped")
			return nil
		},
	}
	settingFlags(cmd.Flags())
	return cmd
}

// checkBind refuses a listen address beyond loopback unless a bearer token
// guards it or server.allow_insecure_bind forces it (with a warning). It
// reports whether the address is loopback only.
func checkBind(ctx context.Context, cfg *configs.Config, log *slog.Logger) (bool, error) {
	loopback, err := httpapi.LoopbackListen(ctx, cfg.Listen)
	if err != nil {
		return false, &configs.KeyError{Key: "listen", Reason: err.Error()}
	}
	switch {
	case loopback:
	case cfg.Server.AuthToken != "":
		log.Info("listening beyond loopback; every request needs the bearer token", "listen", cfg.Listen)
	case cfg.Server.AllowInsecureBind:
		log.Warn("listening beyond loopback WITHOUT a bearer token (server.allow_insecure_bind): anyone who can reach this address can use the local model and the cloud account",
			"listen", cfg.Listen)
	default:
		return false, &configs.KeyError{Key: "listen", Reason: fmt.Sprintf(
			"%s is not a loopback address: set server.auth_token (or EDGECASCADE_SERVER_AUTH_TOKEN, or server.auth_token_file), or force it with --server.allow_insecure_bind=true",
			cfg.Listen)}
	}
	return loopback, nil
}
