package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

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
			d, err := newDaemon(cmd.Context(), cfg, log, loopback)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				d.close()
				return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
			}
			return a.serve(cmd, d, ln)
		},
	}
	settingFlags(cmd.Flags())
	return cmd
}

// serve runs d on ln until the command's context ends (SIGINT, SIGTERM),
// reloading on SIGHUP, then drains it within server.shutdown_timeout; a
// second signal cuts the drain short.
func (a *app) serve(cmd *cobra.Command, d *daemon, ln net.Listener) error {
	ctx := cmd.Context()
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ln) }()
	// The line below is what scripts wait for.
	fmt.Fprintf(a.stdout, "listening on http://%s\n", ln.Addr())

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case err := <-errc:
			d.close()
			return err
		case <-hup:
			cfg, err := a.loadConfig(cmd)
			if err == nil {
				err = d.Reload(cfg)
			}
			if err != nil {
				d.log.Error("reload failed; keeping the routing in force", "err", err)
			}
		case <-ctx.Done():
			break wait
		}
	}
	timeout := d.cfg.Server.ShutdownTimeout
	d.log.Info("shutting down: draining in-flight requests", "deadline", timeout)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	second := make(chan os.Signal, 1)
	signal.Notify(second, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(second)
	go func() {
		select {
		case <-second:
			d.log.Warn("second signal: stopping now")
			cancel()
		case <-sctx.Done():
		}
	}()
	if err := d.Shutdown(sctx); err != nil {
		// Requests still in flight were cut; say so in the exit status
		// (Shutdown still wrote the decision log).
		if errors.Is(err, context.Canceled) {
			return errors.New("shutdown: a second signal stopped the drain; in-flight requests were cut")
		}
		return fmt.Errorf("shutdown: in-flight requests outlasted server.shutdown_timeout %s and were cut: %w", timeout, err)
	}
	d.log.Info("stopped")
	return nil
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
