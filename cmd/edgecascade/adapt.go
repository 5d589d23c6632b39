package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/decisionlog"
	"github.com/edgecascade/edgecascade/agent/events"
	"github.com/edgecascade/edgecascade/agent/learn"
	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/configs"
	"github.com/edgecascade/edgecascade/uq/adapt"
	"github.com/edgecascade/edgecascade/uq/calib"
)

// adaptFile is the online threshold's state in data_dir.
const adaptFile = "adapt.json"

// adaptSaveEvery is how often the state is saved when it changed.
const adaptSaveEvery = 5 * time.Second

// adaptation is learning from deployment in the daemon: the online
// threshold (uq/adapt), its labeller (agent/learn), its state saved in
// data_dir, and the drift events. It implements httpapi.Adaptation and
// httpapi.LabelSink (feedback).
type adaptation struct {
	engine   *adapt.Engine
	labeller *learn.Labeller
	path     string
	log      *slog.Logger
	stop     chan struct{}
	wg       sync.WaitGroup
	saved    uint64
}

// adaptTarget is the accuracy to keep: adapt.target, else the calibration
// file's target, else 0.9.
func adaptTarget(cfg *configs.Config) float64 {
	if cfg.Adapt.Target > 0 {
		return cfg.Adapt.Target
	}
	if cfg.Cascade.Calibration != "" {
		if f, err := calib.ReadFile(cfg.Cascade.Calibration); err == nil && f.Params.TargetAccuracy > 0 {
			return f.Params.TargetAccuracy
		}
	}
	return 0.9
}

// openAdaptation starts learning from deployment: from the saved state, or
// from the routing (the calibration's threshold and map; without a
// calibration file, escalating everything until labels say otherwise).
func openAdaptation(cfg *configs.Config, log *slog.Logger, routing cascade.Routing, provider cloud.Provider, gate cascade.Gate,
	labels learn.LabelLog, broker *events.Broker) (*adaptation, error) {
	dir, err := cfg.DataPath()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir %s: %w (set data_dir to a writable folder, or adapt.enabled false)", dir, err)
	}
	ac := adapt.Config{
		Target: adaptTarget(cfg), Delta: 1 - cfg.Adapt.Confidence, Window: cfg.Adapt.Window,
		MinLabels: cfg.Adapt.MinLabels, GroupMinLabels: cfg.Adapt.GroupMinLabels, CloudAccuracy: cfg.Adapt.CloudAccuracy,
	}
	if routing.Source != "" {
		ac.Initial, ac.InitialMap = routing.Threshold, routing.Probability
	}
	ac.OnDrift = func(d adapt.Drift) {
		log.Warn("adaptation: the bound on accepted accuracy crossed the target", "group", d.Group, "below", d.Below,
			"bound", d.Bound, "target", d.Target, "threshold", d.Threshold, "previous", d.Previous)
		if broker != nil {
			broker.Publish(events.AdaptDrift, d)
		}
	}
	a := &adaptation{path: filepath.Join(dir, adaptFile), log: log, stop: make(chan struct{})}
	if a.engine, err = adapt.Load(a.path, ac); err != nil {
		return nil, fmt.Errorf("adapt: %w", err)
	}
	a.saved = a.engine.Changes()
	a.labeller, err = learn.New(learn.Config{Engine: a.engine, Log: labels, Cloud: provider, Gate: gate,
		Agreement: cfg.Adapt.Agreement, ExploreRate: cfg.Adapt.ExploreRate, Logger: log})
	if err != nil {
		return nil, err
	}
	a.wg.Add(1)
	go a.saver()
	st := a.engine.Status()
	log.Info("adaptation on", "target", st.Target, "confidence", st.Confidence, "threshold", st.Global.Threshold,
		"labels", st.Global.Labels, "state", a.path)
	return a, nil
}

func (a *adaptation) saver() {
	defer a.wg.Done()
	t := time.NewTicker(adaptSaveEvery)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.save()
		}
	}
}

func (a *adaptation) save() {
	n := a.engine.Changes()
	if n == a.saved {
		return
	}
	if err := a.engine.Save(a.path); err != nil {
		a.log.Error("could not save the adaptation state", "err", err)
		return
	}
	a.saved = n
}

// options adds the threshold lookup and the labeller to the cascade's.
func (a *adaptation) options(opts cascade.Options) cascade.Options {
	opts.Thresholds, opts.Labeller = a.engine, a.labeller
	return opts
}

// Status implements httpapi.Adaptation.
func (a *adaptation) Status() adapt.Status { return a.engine.Status() }

// Explorations implements httpapi.Adaptation.
func (a *adaptation) Explorations() (made, failed uint64, skipped map[string]uint64) {
	st := a.labeller.Stats()
	return st.Explored, st.ExploreFailed, st.Skipped
}

// Observe implements httpapi.LabelSink: a feedback label on a local answer
// scored in auto mode feeds the online threshold (feedback on a cloud
// answer says nothing of the local model).
func (a *adaptation) Observe(e decisionlog.Entry) {
	if e.Label == nil || e.Score == nil || e.Route != cascade.RouteLocal || e.Policy != string(cascade.PolicyAuto) {
		return
	}
	a.engine.Label(e.ID, e.Group, e.Label.Correct, e.Label.Source)
}

// close stops the background labels and saves the state.
func (a *adaptation) close() {
	if a == nil {
		return
	}
	close(a.stop)
	a.wg.Wait()
	a.labeller.Close()
	a.save()
}
