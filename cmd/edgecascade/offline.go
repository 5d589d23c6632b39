package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/events"
	"github.com/edgecascade/edgecascade/agent/httpapi"
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
// breaker), the budget, and the outbox of deferred escalations, with the
// cloud provider guarded by them.
type offlineFirst struct {
	cfg     *configs.Config
	log     *slog.Logger
	tracker *reach.Tracker
	budget  *budget.Budget
	box     *outbox.Outbox
	// provider is the cloud the cascade uses: refused at once while
	// offline, unreachable or over budget; every call counted.
	provider  cloud.Provider
	deferrals *outbox.Deferrals
	events    *events.Broker
	gate      cascade.Gates
	// onChange is told of each reachability change, after the events
	// stream and the drain.
	onChange func(reach.Status)
	wg       sync.WaitGroup
	cancel   context.CancelFunc
}

// openOfflineFirst guards p with the offline switch, the circuit breaker
// and (withDB) the budget, and opens, when outbox.enabled, the outbox in
// data_dir; withDB false (one-shot commands) keeps only the offline switch
// and the breaker. onChange, when not nil, is told of each reachability
// change.
func openOfflineFirst(cfg *configs.Config, log *slog.Logger, p cloud.Provider, withDB bool, onChange func(reach.Status)) (*offlineFirst, error) {
	o := &offlineFirst{cfg: cfg, log: log, events: events.NewBroker(), onChange: onChange}
	if withDB {
		if err := o.open(); err != nil {
			return nil, err
		}
	}
	o.guard(p)
	return o, nil
}

// open opens the budget and, when outbox.enabled, the outbox in data_dir.
func (o *offlineFirst) open() error {
	cfg := o.cfg
	dir, err := cfg.DataPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data_dir %s: %w (set data_dir to a writable folder)", dir, err)
	}
	limits := budget.Limits{
		CallsPerDay: cfg.Budget.CallsPerDay, CallsPerMonth: cfg.Budget.CallsPerMonth,
		TokensPerDay: cfg.Budget.TokensPerDay, TokensPerMonth: cfg.Budget.TokensPerMonth,
		CostPerDay: cfg.Budget.CostPerDay, CostPerMonth: cfg.Budget.CostPerMonth,
	}
	if o.budget, err = budget.Open(filepath.Join(dir, budgetFile), limits, nil); err != nil {
		return fmt.Errorf("data_dir: %w (set data_dir to a writable folder)", err)
	}
	if cfg.Outbox.Enabled {
		var requeued int
		if o.box, requeued, err = outbox.Open(filepath.Join(dir, outboxFile), outbox.Options{MaxItems: cfg.Outbox.MaxItems}); err != nil {
			_ = o.budget.Close()
			return fmt.Errorf("data_dir: %w (set data_dir to a writable folder, or outbox.enabled false)", err)
		}
		if requeued > 0 {
			o.log.Warn("deferred items were being sent when the daemon last stopped; queued again", "n", requeued)
		}
	}
	return nil
}

// guard puts p behind the reachability tracker and the budget, and sets up
// the drain of the outbox through the guarded provider.
func (o *offlineFirst) guard(p cloud.Provider) {
	b := o.cfg.Cloud.Breaker
	o.tracker = reach.New(p, reach.Options{
		Offline: o.cfg.Offline, FailureThreshold: b.Failures, ProbeInterval: b.ProbeInterval, MaxProbeInterval: b.MaxProbeInterval,
		Log: o.log, OnChange: o.changed,
	})
	o.provider = reach.NewGuard(p, o.tracker)
	o.gate = cascade.Gates{o.tracker}
	if o.budget != nil {
		// The worst case of a call is reserved at the chain's highest prices.
		var price cloud.Price
		if c, ok := p.(*cloud.Chain); ok {
			price = c.MaxPrice()
		}
		o.provider = budget.NewGuardWith(o.provider, o.budget, budget.GuardOptions{Price: price, Log: o.log})
		o.gate = append(o.gate, o.budget)
	}
	if o.box != nil {
		o.deferrals = outbox.NewDeferrals(o.box, o.provider, o.gate, o.events, outbox.DrainOptions{
			Rate: o.cfg.Outbox.DrainRate, Retention: o.cfg.Outbox.Retention, MaxAge: o.cfg.Outbox.MaxAge, Log: o.log,
		})
	}
}

func (o *offlineFirst) changed(st reach.Status) {
	o.events.Publish(events.CloudState, st)
	if o.deferrals != nil && st.State == reach.StateOnline {
		o.deferrals.Wake()
	}
	if o.onChange != nil {
		o.onChange(st)
	}
}

// options adds the gate and the deferrer to the cascade's options.
func (o *offlineFirst) options(opts cascade.Options) cascade.Options {
	opts.Gate = o.gate
	if o.deferrals != nil {
		opts.Deferrer = o.deferrals
	}
	return opts
}

// serverConfig adds the outbox, events, reachability and budget to the API.
func (o *offlineFirst) serverConfig(sc httpapi.ServerConfig) httpapi.ServerConfig {
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
