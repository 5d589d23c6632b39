package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/edgecascade/edgecascade/agent"
	"github.com/edgecascade/edgecascade/agent/outbox"
	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/cloud/budget"
	"github.com/edgecascade/edgecascade/cloud/reach"
	"github.com/edgecascade/edgecascade/configs"
)

// Files in data_dir.
const (
	outboxFile = "outbox.db"
	budgetFile = "budget.db"
)

// offlineFirst is what keeps the daemon answering and losing nothing when
// the network goes: the cloud's reachability (offline switch and circuit
// breaker), the budget, and the outbox of deferred escalations.
type offlineFirst struct {
	cfg       *configs.Config
	log       *slog.Logger
	tracker   *reach.Tracker
	budget    *budget.Budget
	box       *outbox.Outbox
	deferrals *agent.Deferrals
	events    *agent.Broker
	gate      agent.Gates
	// onChange is told of each reachability change (set before run).
	onChange func(reach.Status)
	wg       sync.WaitGroup
	cancel   context.CancelFunc
}

// openOfflineFirst opens the budget and, when outbox.enabled, the outbox in
// data_dir; withDB false (one-shot commands) keeps only the offline switch
// and the breaker.
func openOfflineFirst(cfg *configs.Config, log *slog.Logger, withDB bool) (*offlineFirst, error) {
	o := &offlineFirst{cfg: cfg, log: log, events: agent.NewBroker()}
	if !withDB {
		return o, nil
	}
	dir, err := cfg.DataPath()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir %s: %w (set data_dir to a writable folder)", dir, err)
	}
	limits := budget.Limits{
		CallsPerDay: cfg.Budget.CallsPerDay, CallsPerMonth: cfg.Budget.CallsPerMonth,
		TokensPerDay: cfg.Budget.TokensPerDay, TokensPerMonth: cfg.Budget.TokensPerMonth,
		CostPerDay: cfg.Budget.CostPerDay, CostPerMonth: cfg.Budget.CostPerMonth,
	}
	if o.budget, err = budget.Open(filepath.Join(dir, budgetFile), limits, nil); err != nil {
		return nil, fmt.Errorf("data_dir: %w (set data_dir to a writable folder)", err)
	}
	if cfg.Outbox.Enabled {
		var requeued int
		if o.box, requeued, err = outbox.Open(filepath.Join(dir, outboxFile), nil); err != nil {
			_ = o.budget.Close()
			return nil, fmt.Errorf("data_dir: %w (set data_dir to a writable folder, or outbox.enabled false)", err)
		}
		if requeued > 0 {
			log.Warn("deferred items were being sent when the daemon last stopped; queued again", "n", requeued)
		}
	}
	return o, nil
}

// wrap guards the cloud: refused at once while offline, unreachable or over
// budget; every call counted. It returns the provider the cascade uses.
func (o *offlineFirst) wrap(p cloud.Provider) cloud.Provider {
	b := o.cfg.Cloud.Breaker
	o.tracker = reach.New(p, reach.Options{
		Offline: o.cfg.Offline, FailureThreshold: b.Failures, ProbeInterval: b.ProbeInterval, MaxProbeInterval: b.MaxProbeInterval,
		Log: o.log, OnChange: o.changed,
	})
	var out cloud.Provider = reach.NewGuard(p, o.tracker)
	o.gate = agent.Gates{o.tracker}
	if o.budget != nil {
		// The worst case of a call is reserved at the chain's highest prices.
		var price cloud.Price
		if c, ok := p.(*cloud.Chain); ok {
			price = c.MaxPrice()
		}
		out = budget.NewGuardWith(out, o.budget, budget.GuardOptions{Price: price, Log: o.log})
		o.gate = append(o.gate, o.budget)
	}
	if o.box != nil {
		o.deferrals = agent.NewDeferrals(o.box, out, o.gate, o.events, agent.DrainOptions{
			Rate: o.cfg.Outbox.DrainRate, Retention: o.cfg.Outbox.Retention, Log: o.log,
		})
	}
	return out
}

func (o *offlineFirst) changed(st reach.Status) {
	o.events.Publish(agent.EventCloudState, st)
	if o.deferrals != nil && st.State == reach.StateOnline {
		o.deferrals.Wake()
	}
	if o.onChange != nil {
		o.onChange(st)
	}
}

// options adds the gate and the deferrer to the cascade's options.
func (o *offlineFirst) options(opts agent.Options) agent.Options {
	opts.Gate = o.gate
	if o.deferrals != nil {
		opts.Deferrer = o.deferrals
	}
	return opts
}

// serverConfig adds the outbox, events, reachability and budget to the API.
func (o *offlineFirst) serverConfig(sc agent.ServerConfig) agent.ServerConfig {
	sc.Reach = o.tracker
	if o.budget != nil {
		sc.Budget = o.budget
	}
	if o.deferrals != nil {
		sc.Deferrals, sc.Events = o.deferrals, o.events
	}
	return sc
}

// run starts the reachability probes and the outbox drain.
func (o *offlineFirst) run(ctx context.Context) {
	ctx, o.cancel = context.WithCancel(ctx)
	o.wg.Add(1)
	go func() { defer o.wg.Done(); o.tracker.Run(ctx) }()
	if o.deferrals != nil {
		o.wg.Add(1)
		go func() { defer o.wg.Done(); o.deferrals.Run(ctx) }()
	}
}

// close stops the drain (an item in flight is queued again) and closes the
// databases.
func (o *offlineFirst) close() {
	if o.cancel != nil {
		o.cancel()
	}
	o.wg.Wait()
	if o.box != nil {
		if err := o.box.Close(); err != nil {
			o.log.Error("close the outbox", "err", err)
		}
	}
	if o.budget != nil {
		if err := o.budget.Close(); err != nil {
			o.log.Error("close the budget database", "err", err)
		}
	}
}
