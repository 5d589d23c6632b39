package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/edgecascade/edgecascade/agent/admission"
	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/decisionlog"
	"github.com/edgecascade/edgecascade/agent/httpapi"
	"github.com/edgecascade/edgecascade/agent/learn"
	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/cloud/reach"
	"github.com/edgecascade/edgecascade/configs"
	"github.com/edgecascade/edgecascade/models"
)

// daemon is the running service, built from one configuration: the
// cascade, the parts that keep it offline-first (reachability, budget,
// outbox and its drain), the decision log, and the HTTP API in front.
// newDaemon opens every part; Run serves; Reload swaps what a SIGHUP may
// change; Shutdown drains the HTTP server and closes every part in order.
type daemon struct {
	cfg       *configs.Config
	log       *slog.Logger
	deps      *deps
	off       *offlineFirst
	cascade   *cascade.Cascade
	api       *httpapi.Server
	decisions *decisionlog.Log
	adapt     *adaptation
	http      *http.Server
}

// newDaemon opens every part of the daemon and starts its background work
// (reachability probes, outbox drain) under ctx; on an error it closes
// what it had opened.
func newDaemon(ctx context.Context, cfg *configs.Config, log *slog.Logger, loopback bool) (_ *daemon, err error) {
	d := &daemon{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	provider, err := newCloud(cfg)
	if err != nil {
		return nil, err
	}
	if d.off, err = openOfflineFirst(cfg, log, provider, true, d.cloudChanged); err != nil {
		return nil, err
	}
	if cfg.Log.Decisions {
		if d.decisions, err = openDecisionLog(cfg, log); err != nil {
			return nil, err
		}
	}
	var learning []func(cascade.Routing, cloud.Provider, cascade.Options) (cascade.Options, error)
	if cfg.Adapt.Enabled {
		learning = append(learning, func(r cascade.Routing, p cloud.Provider, opts cascade.Options) (cascade.Options, error) {
			var labels learn.LabelLog
			if d.decisions != nil {
				labels = d.decisions
			}
			if d.adapt, err = openAdaptation(cfg, log, r, p, opts.Gate, labels, d.off.events); err != nil {
				return opts, err
			}
			return d.adapt.options(opts), nil
		})
	}
	if d.cascade, d.deps, err = build(ctx, cfg, log, d.off, learning...); err != nil {
		return nil, err
	}
	sc := httpapi.ServerConfig{
		AuthToken: cfg.Server.AuthToken, CORSOrigins: cfg.Server.CORSOrigins,
		CheckHost: loopback, AllowedHosts: cfg.Server.AllowedHosts,
		LogContent:   cfg.Log.Content,
		MaxBodyBytes: cfg.Server.MaxBodyBytes,
		Backend:      cfg.Local.Backend, LocalURL: cfg.LocalURL(),
		CloudProvider: cfg.Cloud.Provider, CloudURL: cfg.CloudBaseURL(),
		Admission: d.deps.admission,
		Pprof:     cfg.Server.Pprof,
		// The dashboard's summary: savings priced at the primary provider's
		// prices, and the resource rules in force.
		CloudPrice: cloud.Price{InputPer1K: cfg.Cloud.CostInputPer1K, OutputPer1K: cfg.Cloud.CostOutputPer1K},
	}
	if cfg.Resources.Enabled {
		sc.ResourceRules = cfg.Resources.Rules
	}
	if d.decisions != nil {
		sc.Decisions = d.decisions
	}
	if d.adapt != nil {
		sc.Adapt, sc.Labels = d.adapt, d.adapt
	}
	sc.EmbedModel = cfg.EmbedModel()
	if e, ok := d.deps.backend.(models.Embedder); ok {
		sc.Embedder = admission.AdmitEmbedder(e, d.deps.admission)
	}
	if d.adapt != nil {
		if sc.Grouper, err = clusterGrouper(cfg, log, sc.Embedder); err != nil {
			return nil, err
		}
	}
	if ds, ok := d.deps.backend.(models.Describer); ok {
		sc.Describer = ds
	}
	sc = d.off.serverConfig(sc)
	if d.adapt != nil && sc.Events == nil {
		sc.Events = d.off.events // adapt.drift
	}
	d.api = httpapi.NewServer(d.cascade, sc, log)
	if cfg.Server.Pprof {
		log.Info("serving runtime profiles behind the guard", "path", "/debug/pprof/")
	}
	d.http = httpServer(cfg.Server, d.api.Handler())
	d.off.run(ctx)
	return d, nil
}

// cloudChanged shows each change of the cloud's reachability in the
// metrics (the events stream and the drain hear of it first).
func (d *daemon) cloudChanged(st reach.Status) {
	if d.api != nil {
		d.api.CloudStateChanged(st)
	}
}

// Run serves the API on ln until Shutdown (nil) or until serving fails.
func (d *daemon) Run(ln net.Listener) error {
	rt := d.cascade.Routing()
	d.log.Info("edgecascade serving", "version", version, "addr", ln.Addr().String(),
		"local", d.cfg.Local.Model, "cloud", d.cfg.Cloud.Model, "scorer", rt.Scorer.Name(), "threshold", rt.Threshold, "calibration", rt.Source)
	if err := d.http.Serve(limitListener(ln, d.cfg.Server)); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Reload applies what a SIGHUP may change from a newly loaded
// configuration: the routing (scorer, threshold, calibration) and the
// offline switch. On an error the routing in force is kept. Probes are
// loaded once, at start.
func (d *daemon) Reload(cfg *configs.Config) error {
	r, err := loadRouting(cfg, d.deps)
	if err != nil {
		return err
	}
	if err := d.cascade.SetRouting(r); err != nil {
		return err
	}
	if cfg.Offline != d.cfg.Offline {
		d.off.tracker.SetOffline(cfg.Offline)
		d.cfg.Offline = cfg.Offline
	}
	d.log.Info("reloaded routing", "scorer", r.Scorer.Name(), "threshold", r.Threshold, "calibration", r.Source)
	return nil
}

// Shutdown stops accepting requests and waits for those in flight until ctx
// ends, then cuts them; either way it stops the drain (an item in flight is
// queued again) and closes the decision log (writing what is queued), the
// outbox and the budget, in that order.
func (d *daemon) Shutdown(ctx context.Context) error {
	defer d.close()
	if err := d.http.Shutdown(ctx); err != nil {
		_ = d.http.Close()
		return err
	}
	return nil
}

// close closes every part that was opened, the last opened first.
func (d *daemon) close() {
	d.adapt.close() // its background labels go to the decision log
	if d.decisions != nil {
		_ = d.decisions.Close()
	}
	if d.deps != nil {
		d.deps.close()
	}
	if d.off != nil {
		d.off.close()
	}
}
