package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ollama/ollama/api"
	"github.com/spf13/cobra"

	"github.com/edgecascade/edgecascade/configs"
	"github.com/edgecascade/edgecascade/models/ollama"
	"github.com/edgecascade/edgecascade/models/tokenizer"
	"github.com/edgecascade/edgecascade/probe"
	"github.com/edgecascade/edgecascade/uq/calib"
)

// doctorCheckTimeout bounds each network check of doctor.
const doctorCheckTimeout = 15 * time.Second

// minFreeBytes is the free space below which doctor warns about data_dir:
// the decision log grows by a few hundred bytes a request.
const minFreeBytes = 100 << 20

// status is a check's outcome.
type status string

const (
	statusOK   status = "OK"
	statusWarn status = "WARN"
	statusFail status = "FAIL"
)

// doctor runs the checks and prints one line per check.
type doctor struct {
	cfg   *configs.Config
	out   io.Writer
	count map[status]int

	local      *ollama.Client // nil when the backend was not reachable
	modelReady bool           // the local model is present
}

func (d *doctor) report(st status, name, format string, args ...any) {
	d.count[st]++
	fmt.Fprintf(d.out, "%-4s  %-18s  %s\n", st, name, fmt.Sprintf(format, args...))
}

func (a *app) doctorCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the installation: local backend and model, cloud key and reachability, onnxruntime and probes, data_dir, calibration",
		Long: `doctor checks what serve needs, one line per check with OK, WARN or FAIL and
what to fix:

  config             the configuration loads and validates
  local backend      the local backend answers (and its version)
  local model        local.model is present (and how to import it when not)
  local tokenizer    local.tokenizer loads (when set)
  cloud key          an API key is set for each cloud provider (never printed)
  cloud              each cloud provider answers (lists its models)
  onnxruntime        the library loads (when a probe is configured)
  probe.path         each probe file loads for this local model and its size
                     (and a pre-generation probe has a threshold, as serve needs)
  data_dir           exists or can be created, is writable, has free space
  calibration        cascade.calibration loads, is for this local model and
                     has a threshold for cascade.scorer (when set)

The exit status is non-zero when any check fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := &doctor{out: a.stdout, count: map[status]int{}}
			cfg, src, err := a.loadConfigFrom(cmd)
			if err != nil {
				d.report(statusFail, "config", "%v", err)
				return errors.New("doctor: the configuration is invalid")
			}
			d.cfg = cfg
			d.report(statusOK, "config", "valid (%s)", src)
			d.run(cmd.Context())
			fmt.Fprintf(d.out, "\n%d OK, %d WARN, %d FAIL\n", d.count[statusOK], d.count[statusWarn], d.count[statusFail])
			if n := d.count[statusFail]; n > 0 {
				return fmt.Errorf("doctor: %d check(s) failed", n)
			}
			return nil
		},
	}
	settingFlags(cmd.Flags())
	return cmd
}

func (d *doctor) run(ctx context.Context) {
	d.checkLocal(ctx)
	d.checkStages(ctx)
	d.checkTokenizer()
	d.checkCloud(ctx)
	d.checkProbes(ctx)
	d.checkDataDir()
	d.checkCalibration()
}

// checkLocal checks the backend answers and has the model.
func (d *doctor) checkLocal(ctx context.Context) {
	lc := d.cfg.Local
	if lc.Backend != "ollama" {
		d.report(statusWarn, "local backend", "doctor has no checks for local.backend %q", lc.Backend)
		return
	}
	c, err := ollama.New(ollama.Config{URL: lc.URL, Model: lc.Model, Timeout: lc.Timeout})
	if err != nil {
		d.report(statusFail, "local backend", "%v", err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, doctorCheckTimeout)
	defer cancel()
	v, err := c.API().Version(cctx)
	if err != nil {
		d.report(statusFail, "local backend", "ollama at %s does not answer (%v): start it with `ollama serve` (OLLAMA_HOST=%s) or fix local.url",
			lc.URL, err, strings.TrimPrefix(strings.TrimPrefix(lc.URL, "http://"), "https://"))
		d.report(statusFail, "local model", "%s: not checked, the backend is down", lc.Model)
		return
	}
	d.local = c
	d.report(statusOK, "local backend", "ollama %s at %s", v, lc.URL)

	show, err := c.API().Show(cctx, &api.ShowRequest{Model: lc.Model})
	var se api.StatusError
	switch {
	case errors.As(err, &se) && se.StatusCode == 404:
		d.report(statusFail, "local model", "%s is not present in ollama at %s: import it with `ollama pull %s` (from the Ollama library) or `ollama create %s -f Modelfile` (a local GGUF file)",
			lc.Model, lc.URL, lc.Model, lc.Model)
	case err != nil:
		d.report(statusFail, "local model", "%s: %v", lc.Model, err)
	default:
		d.modelReady = true
		det := show.Details
		var parts []string
		for _, p := range []string{det.Family, det.ParameterSize, det.QuantizationLevel} {
			if p != "" {
				parts = append(parts, p)
			}
		}
		info := ""
		if len(parts) > 0 {
			info = " (" + strings.Join(parts, ", ") + ")"
		}
		if n, err := c.ContextLength(cctx); err == nil {
			info += fmt.Sprintf(", context %d tokens", n)
		}
		d.report(statusOK, "local model", "%s present%s", lc.Model, info)
	}
}

// checkStages checks that each local stage after the first
// (cascade.stages) has its model in its backend.
func (d *doctor) checkStages(ctx context.Context) {
	for _, st := range d.cfg.LaterStages() {
		name := "stage " + st.Name
		if st.Backend != "ollama" {
			d.report(statusWarn, name, "doctor has no checks for backend %q", st.Backend)
			continue
		}
		c, err := ollama.New(ollama.Config{URL: st.URL, Model: st.Model, Timeout: d.cfg.Local.Timeout})
		if err != nil {
			d.report(statusFail, name, "%v", err)
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, doctorCheckTimeout)
		_, err = c.API().Show(cctx, &api.ShowRequest{Model: st.Model})
		cancel()
		var se api.StatusError
		switch {
		case errors.As(err, &se) && se.StatusCode == 404:
			d.report(statusFail, name, "%s is not present in ollama at %s: import it with `ollama pull %s` or `ollama create %s -f Modelfile`", st.Model, st.URL, st.Model, st.Model)
		case err != nil:
			d.report(statusFail, name, "%s at %s: %v", st.Model, st.URL, err)
		default:
			d.report(statusOK, name, "%s present in ollama at %s", st.Model, st.URL)
		}
	}
}

func (d *doctor) checkTokenizer() {
	path := d.cfg.Local.Tokenizer
	if path == "" {
		return
	}
	if _, err := tokenizer.Load(path); err != nil {
		d.report(statusFail, "local tokenizer", "local.tokenizer: %v: set it to the local model's tokenizer.json or leave it empty (estimate)", err)
		return
	}
	d.report(statusOK, "local tokenizer", "%s loads", path)
}

// checkCloud checks each provider's key (without printing it) and that the
// provider answers. A provider at its own public URL without a key is not
// contacted; in offline mode none is.
func (d *doctor) checkCloud(ctx context.Context) {
	if d.cfg.Offline {
		d.report(statusOK, "cloud", "offline mode is on: the cloud is never contacted (escalations wait in the outbox)")
		return
	}
	for _, e := range d.cfg.CloudProviders() {
		if e.APIKey == "" {
			if e.BaseURL == "" {
				d.report(statusFail, e.Label+" key", "no API key for %s: set %s (never on the command line)", e.Provider, e.KeyFrom)
				d.report(statusWarn, e.Label, "%s at %s: not contacted without a key", e.Provider, e.URL)
				continue
			}
			d.report(statusWarn, e.Label+" key", "no API key (set %s): fine only for a self-hosted server that needs none", e.KeyFrom)
		} else {
			d.report(statusOK, e.Label+" key", "set (from %s or the config file; not shown)", e.KeyFrom)
		}
		e.MaxRetries = 0 // one answer is enough to know
		p, err := newProvider(e)
		if err != nil {
			d.report(statusFail, e.Label, "%v", err)
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, doctorCheckTimeout)
		err = p.Ping(cctx)
		cancel()
		if err != nil {
			d.report(statusFail, e.Label, "%s at %s does not answer: %v: check the URL, the key and the network", e.Provider, e.URL, err)
			continue
		}
		d.report(statusOK, e.Label, "%s at %s answers (model %s)", e.Provider, e.URL, e.Model)
	}
}

// checkProbes loads onnxruntime and each configured probe for this model.
func (d *doctor) checkProbes(ctx context.Context) {
	pc := d.cfg.Probe
	if pc.Path == "" && pc.PregenPath == "" {
		return
	}
	rt, err := probe.NewRuntime(pc.ONNXRuntimeLib)
	if err != nil {
		d.report(statusFail, "onnxruntime", "%v", err)
		return
	}
	defer rt.Close()
	d.report(statusOK, "onnxruntime", "%s loads (onnxruntime %s)", rt.LibPath(), rt.Version())

	// The feature size comes from the model itself, as serve does.
	dim := 0
	if d.local != nil && d.modelReady {
		cctx, cancel := context.WithTimeout(ctx, doctorCheckTimeout)
		f, err := d.local.Features(cctx, "edgecascade")
		cancel()
		if err == nil {
			dim = len(f)
		}
	}
	for _, pf := range []struct {
		key, path string
		kind      probe.FeatureKind
	}{{"probe.path", pc.Path, probe.FeatureAnswer}, {"probe.pregen_path", pc.PregenPath, probe.FeaturePrompt}} {
		if pf.path == "" {
			continue
		}
		meta, err := probe.ReadMeta(pf.path)
		if err != nil {
			d.report(statusFail, pf.key, "%v: re-run edgecascade probe train", err)
			continue
		}
		if err := meta.Check(pf.path, d.cfg.Local.Model, pf.kind, 0); err != nil {
			d.report(statusFail, pf.key, "%v: re-run edgecascade probe train", err)
			continue
		}
		if pf.kind == probe.FeaturePrompt {
			// As serve: a threshold from the file or probe.pregen_threshold.
			if _, err := meta.SkipThreshold(pf.path, pc.PregenThreshold); err != nil {
				d.report(statusFail, pf.key, "%v (or re-run edgecascade probe train --pregen with more data)", err)
				continue
			}
		}
		want, note := dim, ""
		if want == 0 {
			want, note = meta.FeatureSize, " (feature size not checked: the local model is not available)"
		}
		p, err := rt.Load(pf.path, d.cfg.Local.Model, want)
		if err != nil {
			d.report(statusFail, pf.key, "%v: re-run edgecascade probe train", err)
			continue
		}
		_ = p.Close()
		st := statusOK
		if note != "" {
			st = statusWarn
		}
		d.report(st, pf.key, "%s loads: %s probe for %s, %d features%s", pf.path, meta.FeatureKind, meta.Model, meta.FeatureSize, note)
	}
}

// checkDataDir checks data_dir exists (or can be created), is a writable
// folder, and has free space.
func (d *doctor) checkDataDir() {
	dir, err := d.cfg.DataPath()
	if err != nil {
		d.report(statusFail, "data_dir", "%v", err)
		return
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		parent := existingParent(dir)
		if err := tryWrite(parent); err != nil {
			d.report(statusFail, "data_dir", "%s does not exist and cannot be created: %v: create it for this user (uid %d) or set data_dir", dir, err, os.Getuid())
			return
		}
		d.report(statusWarn, "data_dir", "%s does not exist yet: serve creates it%s", dir, freeNote(parent))
		return
	case err != nil:
		d.report(statusFail, "data_dir", "%v", err)
		return
	case !fi.IsDir():
		d.report(statusFail, "data_dir", "%s is not a folder: set data_dir to a folder", dir)
		return
	}
	if err := tryWrite(dir); err != nil {
		d.report(statusFail, "data_dir", "%s is not writable by uid %d: %v: fix its owner or mode, or set data_dir (systemd: StateDirectory=)", dir, os.Getuid(), err)
		return
	}
	free, err := freeBytes(dir)
	switch {
	case err != nil:
		d.report(statusWarn, "data_dir", "%s is writable; free space unknown: %v", dir, err)
	case free < minFreeBytes:
		d.report(statusWarn, "data_dir", "%s is writable but only %s free: the decision log needs room (or set log.decisions false)", dir, humanBytes(free))
	default:
		d.report(statusOK, "data_dir", "%s is writable, %s free", dir, humanBytes(free))
	}
}

func freeNote(dir string) string {
	if free, err := freeBytes(dir); err == nil {
		return fmt.Sprintf(" (%s free in %s)", humanBytes(free), dir)
	}
	return ""
}

// existingParent is the nearest folder of dir that exists.
func existingParent(dir string) string {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil || p == filepath.Dir(p) {
			return p
		}
	}
}

// tryWrite creates and removes a file in dir: the one test of writability
// that also holds for read-only mounts and for root.
func tryWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".edgecascade-doctor-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// checkCalibration checks cascade.calibration loads, is for this local
// model and has a threshold for the configured scorer.
func (d *doctor) checkCalibration() {
	path := d.cfg.Cascade.Calibration
	if path == "" {
		d.report(statusOK, "calibration", "none: cascade.threshold %v applies to %s (edgecascade calibrate picks one with a guarantee)",
			d.cfg.Cascade.Threshold, d.cfg.Cascade.Scorer)
		return
	}
	f, err := calib.ReadFile(path)
	if err != nil {
		d.report(statusFail, "calibration", "cascade.calibration: %v: re-run edgecascade calibrate", err)
		return
	}
	scorer := d.cfg.Cascade.Scorer
	fit, err := f.Check(d.cfg.Local.Model, scorer)
	if err != nil {
		d.report(statusFail, "calibration", "%s: %v", path, err)
		return
	}
	if d.cfg.Adapt.Enabled {
		if err := f.CheckGroups(d.cfg.EmbedModel()); err != nil {
			d.report(statusFail, "calibration", "%s: %v", path, err)
			return
		}
	}
	d.report(statusOK, "calibration", "%s: threshold %.3f for %s on local model %s (%d items)", path, *fit.Threshold, scorer, f.LocalModel, f.Items)
}
