package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/edgecascade/edgecascade/agent/admission"
	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/resources"
	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/configs"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/tokenizer"
	"github.com/edgecascade/edgecascade/probe"
	"github.com/edgecascade/edgecascade/uq"
	"github.com/edgecascade/edgecascade/uq/calib"
)

// deps are the parts loaded once per process: the local model, and the
// probes with their onnxruntime (a process-wide environment).
type deps struct {
	local models.Model
	// backend is the local model without the limiter (build keeps it), for
	// what the HTTP API asks of the backend beside generations: embeddings
	// (admitted on their own) and its model's description.
	backend models.Model
	runtime *probe.Runtime
	answer  *probe.Probe // probe.path
	pregen  *probe.Probe // probe.pregen_path
	// admission bounds the calls on the local model (set by build, which
	// puts local behind it).
	admission *admission.Limiter
}

func (d *deps) close() {
	if d.runtime != nil {
		_ = d.runtime.Close() // closes its probes too
	}
	if c, ok := d.local.(io.Closer); ok {
		_ = c.Close() // the in-process engine frees its model
	}
}

// featureSource is the local backend as a probe feature source.
func (d *deps) featureSource() (uq.Features, error) {
	fs, ok := d.local.(uq.Features)
	if !ok {
		return nil, errors.New("the local backend cannot supply hidden-state features for probes")
	}
	return fs, nil
}

// loadDeps connects the local backend and loads the configured probes,
// refusing a probe trained for another model or feature size.
func loadDeps(ctx context.Context, cfg *configs.Config) (*deps, error) {
	local, err := newLocal(ctx, cfg)
	if err != nil {
		return nil, err
	}
	d := &deps{local: local}
	if cfg.Probe.Path == "" && cfg.Probe.PregenPath == "" {
		return d, nil
	}
	fs, err := d.featureSource()
	if err != nil {
		d.close()
		return nil, fmt.Errorf("probe.path: %w", err)
	}
	// The feature size comes from the model itself: one hidden state.
	f, err := fs.Features(ctx, "edgecascade")
	if err != nil {
		d.close()
		return nil, fmt.Errorf("probe: read the local model's feature size: %w", err)
	}
	if d.runtime, err = probe.NewRuntime(cfg.Probe.ONNXRuntimeLib); err != nil {
		d.close()
		return nil, err
	}
	load := func(key, path string, kind probe.FeatureKind) (*probe.Probe, error) {
		if path == "" {
			return nil, nil
		}
		p, err := d.runtime.Load(path, local.Name(), len(f))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if err := p.Meta().Check(path, local.Name(), kind, len(f)); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err) // d.close closes p
		}
		return p, nil
	}
	if d.answer, err = load("probe.path", cfg.Probe.Path, probe.FeatureAnswer); err != nil {
		d.close()
		return nil, err
	}
	if d.pregen, err = load("probe.pregen_path", cfg.Probe.PregenPath, probe.FeaturePrompt); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// scorers builds every available scorer by name: the logprob scorers,
// selfref, and probe when an answer probe is loaded.
func (d *deps) scorers(cfg *configs.Config) (map[string]uq.Scorer, error) {
	out := map[string]uq.Scorer{}
	for _, n := range append(uq.Names(), uq.SelfRef) {
		s, err := uq.Build(n, cfg.ScorerOptions())
		if err != nil {
			return nil, err
		}
		out[n] = s
	}
	if d.answer != nil {
		fs, err := d.featureSource()
		if err != nil {
			return nil, err
		}
		s, err := uq.NewProbe(fs, d.answer)
		if err != nil {
			return nil, err
		}
		out[uq.Probe] = s
	}
	if d.pregen != nil {
		fs, err := d.featureSource()
		if err != nil {
			return nil, err
		}
		s, err := uq.NewPregenProbe(fs, d.pregen)
		if err != nil {
			return nil, err
		}
		out[uq.PregenProbe] = s
	}
	return out, nil
}

// build wires the cascade from the configuration; off, when not nil, is
// the guarded cloud and keeps deferred escalations (else the cloud is built
// unguarded).
//
// learning, when given, adds to the cascade's options once the routing and
// the cloud are known (adaptation).
func build(ctx context.Context, cfg *configs.Config, log *slog.Logger, off *offlineFirst, learning ...func(cascade.Routing, cloud.Provider, cascade.Options) (cascade.Options, error)) (*cascade.Cascade, *deps, error) {
	d, err := loadDeps(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	// From here on every generation and probe forward pass of the daemon
	// goes through the limiter: the scorers and the cascade are built on the
	// wrapped model.
	if d.admission, err = admission.New(cfg.Local.MaxConcurrent, cfg.Local.MaxQueue); err != nil {
		d.close()
		return nil, nil, fmt.Errorf("local.max_concurrent, local.max_queue: %w", err)
	}
	d.backend = d.local
	d.local = admission.Admit(d.local, d.admission)
	opts := cascade.Options{TopLogprobs: cfg.Local.TopLogprobs, StripTokens: cfg.UQ.SelfRef.Tokens, Log: log}
	opts.LocalName, opts.CloudName = cfg.StageNames()
	if opts.Stages, err = laterStages(ctx, cfg); err != nil {
		d.close()
		return nil, nil, err
	}
	var provider cloud.Provider
	if off != nil {
		provider, opts = off.provider, off.options(opts)
	} else if provider, err = newCloud(cfg); err != nil {
		d.close()
		return nil, nil, err
	}
	if opts.Resources, opts.Energy, err = resourceRules(cfg, log); err != nil {
		d.close()
		return nil, nil, err
	}
	routing, err := loadRouting(cfg, d)
	if err != nil {
		d.close()
		return nil, nil, err
	}
	check, err := contextCheck(ctx, cfg, d.local, log)
	if err != nil {
		d.close()
		return nil, nil, err
	}
	opts.Context = check
	for _, l := range learning {
		if opts, err = l(routing, provider, opts); err != nil {
			d.close()
			return nil, nil, err
		}
	}
	c, err := cascade.New(d.local, provider, routing, opts)
	if err != nil {
		d.close()
		return nil, nil, err
	}
	return c, d, nil
}

// laterStages connects the local stages after the first (cascade.stages),
// each behind its own admission limiter (local.max_concurrent and
// local.max_queue apply to each model).
func laterStages(ctx context.Context, cfg *configs.Config) ([]cascade.Stage, error) {
	var out []cascade.Stage
	for _, s := range cfg.LaterStages() {
		sc := *cfg
		sc.Local.Backend, sc.Local.URL, sc.Local.Model = s.Backend, s.URL, s.Model
		m, err := newLocal(ctx, &sc)
		if err != nil {
			return nil, fmt.Errorf("cascade.stages (%s): %w", s.Name, err)
		}
		lim, err := admission.New(cfg.Local.MaxConcurrent, cfg.Local.MaxQueue)
		if err != nil {
			return nil, fmt.Errorf("local.max_concurrent, local.max_queue: %w", err)
		}
		out = append(out, cascade.Stage{Name: s.Name, Model: admission.Admit(m, lim)})
	}
	return out, nil
}

// contextCheck sets up the context-length check: the model's tokenizer when
// local.tokenizer is set (exact), else an estimate of 4 bytes a token.
func contextCheck(ctx context.Context, cfg *configs.Config, local models.Model, log *slog.Logger) (cascade.ContextCheck, error) {
	cs, ok := local.(models.ContextSizer)
	if !ok {
		return cascade.ContextCheck{}, nil
	}
	n, err := cs.ContextLength(ctx)
	if err != nil {
		log.Warn("local context length unknown; prompts are not checked against it", "err", err)
		return cascade.ContextCheck{}, nil
	}
	if cfg.Local.Tokenizer == "" {
		return cascade.ContextCheck{Counter: tokenizer.Approx{}, Length: n}, nil
	}
	tk, err := tokenizer.Load(cfg.Local.Tokenizer)
	if err != nil {
		return cascade.ContextCheck{}, fmt.Errorf("local.tokenizer: %w", err)
	}
	return cascade.ContextCheck{Counter: tk, Exact: true, Length: n}, nil
}

// loadRouting builds the scorer and threshold from the configuration: from
// the calibration file when cascade.calibration is set (then
// cascade.threshold is ignored), else from cascade.threshold.
func loadRouting(cfg *configs.Config, d *deps) (cascade.Routing, error) {
	all, err := d.scorers(cfg)
	if err != nil {
		return cascade.Routing{}, err
	}
	var r cascade.Routing
	var f *calib.File
	if cfg.Cascade.Calibration != "" {
		if f, err = calib.ReadFile(cfg.Cascade.Calibration); err != nil {
			return r, fmt.Errorf("cascade.calibration: %w", err)
		}
		if err := f.CheckModel(cfg.Local.Model); err != nil {
			return r, fmt.Errorf("cascade.calibration: %s: %w", cfg.Cascade.Calibration, err)
		}
		if f.Combined != nil {
			var inputs []uq.Scorer
			for name, s := range all {
				if name != uq.PregenProbe {
					inputs = append(inputs, s)
				}
			}
			if s, err := uq.NewCombined(*f.Combined, inputs); err == nil {
				all[uq.Combined] = s
			} else if cfg.Cascade.Scorer == uq.Combined {
				return r, fmt.Errorf("cascade.calibration: %w", err)
			}
		}
	}
	scorer, ok := all[cfg.Cascade.Scorer]
	if !ok {
		switch cfg.Cascade.Scorer {
		case uq.Probe:
			return r, errors.New("cascade.scorer probe: set probe.path to a probe from edgecascade probe train")
		case uq.Combined:
			return r, errors.New("cascade.scorer combined: the calibration file has no combined fit; re-run edgecascade calibrate")
		}
		return r, fmt.Errorf("cascade.scorer %q is not available", cfg.Cascade.Scorer)
	}
	r = cascade.Routing{Scorer: scorer, Threshold: cfg.Cascade.Threshold}
	if f != nil {
		fit, err := f.Check(cfg.Local.Model, cfg.Cascade.Scorer)
		if err != nil {
			return r, fmt.Errorf("cascade.calibration: %s: %w", cfg.Cascade.Calibration, err)
		}
		r.Threshold, r.Probability, r.Source = *fit.Threshold, fit.Map.Predict, cfg.Cascade.Calibration
	}
	if err := stageRoutings(cfg, all, f, &r); err != nil {
		return r, err
	}
	if d.pregen != nil {
		fs, err := d.featureSource()
		if err != nil {
			return r, err
		}
		th, err := d.pregen.Meta().SkipThreshold(cfg.Probe.PregenPath, cfg.Probe.PregenThreshold)
		if err != nil {
			return r, fmt.Errorf("probe.pregen_path %w", err)
		}
		r.Pregen = &cascade.Pregen{Features: fs, Predictor: d.pregen, Threshold: th}
	}
	return r, nil
}

// stageRoutings sets the routing of every local stage after the first
// (cascade.stages): its scorer and its threshold, from the calibration
// file's joint fit when it has one (which then sets the first stage's
// threshold too), else from the stage's threshold (cascade.threshold when
// unset).
func stageRoutings(cfg *configs.Config, all map[string]uq.Scorer, f *calib.File, r *cascade.Routing) error {
	later := cfg.LaterStages()
	if len(later) == 0 {
		return nil
	}
	joint := f != nil && f.Stages != nil
	if joint {
		first := cfg.Cascade.Stages[0]
		fit, err := f.Stage(first.Name, cfg.Local.Model, cfg.Cascade.Scorer)
		if err != nil {
			return fmt.Errorf("cascade.calibration: %s: %w", cfg.Cascade.Calibration, err)
		}
		r.Threshold = fit.Threshold
	}
	for _, s := range later {
		scorer, ok := all[s.Scorer]
		if !ok {
			return fmt.Errorf("cascade.stages (%s): scorer %q is not available", s.Name, s.Scorer)
		}
		sr := cascade.Routing{Scorer: scorer, Threshold: cfg.Cascade.Threshold, Source: r.Source}
		if s.Threshold != nil {
			sr.Threshold = *s.Threshold
		}
		if joint {
			fit, err := f.Stage(s.Name, s.Model, s.Scorer)
			if err != nil {
				return fmt.Errorf("cascade.calibration: %s: %w", cfg.Cascade.Calibration, err)
			}
			sr.Threshold = fit.Threshold
		}
		r.Stages = append(r.Stages, sr)
	}
	return nil
}

// resourceRules sets up the power and heat rules and the energy meter.
func resourceRules(cfg *configs.Config, log *slog.Logger) (cascade.ResourcePolicy, cascade.EnergyMeter, error) {
	rc := cfg.Resources
	if !rc.Enabled {
		return nil, nil, nil
	}
	m := resources.NewMonitor(resources.Options{Root: rc.SysfsRoot, Interval: rc.Interval, Log: log})
	p, err := resources.NewPolicy(m, rc.Rules)
	if err != nil {
		return nil, nil, fmt.Errorf("resources.rules: %w", err)
	}
	log.Debug("resource rules", "snapshot", m.Snapshot(context.Background()), "rules", len(rc.Rules))
	if !rc.Energy {
		return p, nil, nil
	}
	meter := resources.NewMeter(resources.EnergyOptions{Root: rc.SysfsRoot, Log: log})
	if meter.Source() == resources.SourceNone {
		return p, nil, nil
	}
	log.Info("measuring the energy of local generations", "source", meter.Source())
	return p, meter, nil
}
