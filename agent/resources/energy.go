package resources

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// EnergyReader reads a cumulative energy counter.
type EnergyReader interface {
	// Read returns the energy used since some fixed origin, in joules: the
	// difference of two reads is the energy used between them. ok is false
	// when nothing could be read; the caller then has no measurement.
	Read(ctx context.Context) (joules float64, ok bool)
}

var _ EnergyReader = (*Meter)(nil)

// Energy sources a Meter can use, as Source reports them.
const (
	// SourceNone: nothing readable; Read and Measure return ok=false.
	SourceNone = ""
	// SourceRAPL: Intel/AMD RAPL package counters under
	// /sys/class/powercap/intel-rapl:N (x86 laptops and desktops).
	SourceRAPL = "rapl"
	// SourceINA3221: the mainline hwmon INA3221 driver, a hwmon device named
	// ina3221 under /sys/class/hwmon (Jetson Linux 34+ / JetPack 5+).
	SourceINA3221 = "ina3221"
	// SourceINA3221x: NVIDIA's L4T iio INA3221 driver under
	// /sys/bus/i2c/drivers/ina3221x (Jetson Linux 32 / JetPack 4).
	SourceINA3221x = "ina3221x"
)

// DefaultSampleInterval is how often a power monitor is sampled while a
// Measure runs; energymon's Jetson backend found 100 ms to cost very little.
const DefaultSampleInterval = 100 * time.Millisecond

// EnergyOptions configure a Meter. The zero value is usable.
type EnergyOptions struct {
	// Root is where sysfs is mounted; empty means DefaultRoot.
	Root string
	// Rails names the INA3221 channels (their labels, e.g. VDD_IN) whose
	// power is summed. Empty means the board's outermost input rails, found
	// by name: VDD_IN (+ VDD_MUX on TX1/TX2), POM_5V_IN (Nano), the six
	// parallel rails of an AGX Xavier or VDD_GPU_SOC + VDD_CPU_CV +
	// VIN_SYS_5V0 on an AGX Orin. Naming two rails where one feeds the other
	// counts that power twice.
	Rails []string
	// SampleInterval is how often a power monitor (INA3221, which reports
	// power, not energy) is sampled during Measure: 0 means
	// DefaultSampleInterval, a negative value samples only at the start and
	// the end. RAPL counts energy itself and is never sampled in between.
	SampleInterval time.Duration
	// Now is the clock that power is integrated over, for tests; nil means
	// time.Now.
	Now func() time.Time
	// Log receives discovery and malformed-value messages; nil discards them.
	Log *slog.Logger
}

// energySource is one way of reading energy.
type energySource interface {
	read() (joules float64, ok bool)
}

// Meter measures energy with the first readable source: RAPL, then the
// hwmon INA3221, then the L4T ina3221x. It is safe for concurrent use; with
// concurrent Measure calls each is charged the whole machine's energy over
// its own span, since the counters cannot tell requests apart.
type Meter struct {
	src    energySource
	source string
	sample time.Duration // > 0: sample src during Measure
}

// NewMeter finds an energy source under opts.Root. When none is readable the
// Meter still works and reports ok=false.
func NewMeter(opts EnergyOptions) *Meter {
	root := opts.Root
	if root == "" {
		root = DefaultRoot
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := newSysfs(log)
	m := &Meter{}
	if src := discoverRAPL(root, f); src != nil {
		m.src, m.source = src, SourceRAPL
	} else if rails := discoverHwmon(root, f); len(rails) > 0 {
		m.setPower(SourceINA3221, rails, opts, now, f)
	} else if rails := discoverIIO(root, f); len(rails) > 0 {
		m.setPower(SourceINA3221x, rails, opts, now, f)
	}
	if m.src == nil {
		log.Debug("resources: no readable energy counter; energy per answer is not measured", "root", root)
	} else {
		log.Debug("resources: energy source", "source", m.source)
	}
	return m
}

func (m *Meter) setPower(source string, avail []rail, opts EnergyOptions, now func() time.Time, f *sysfs) {
	rails := selectRails(avail, opts.Rails, f.log)
	if len(rails) == 0 {
		return
	}
	m.src, m.source = &powerSource{fs: f, rails: rails, now: now}, source
	m.sample = opts.SampleInterval
	if m.sample == 0 {
		m.sample = DefaultSampleInterval
	}
}

// Source names the energy source in use, or SourceNone.
func (m *Meter) Source() string { return m.source }

// Read returns the cumulative energy in joules; ok is false when there is no
// source, a read failed, or ctx is done.
func (m *Meter) Read(ctx context.Context) (float64, bool) {
	if m.src == nil || ctx.Err() != nil {
		return 0, false
	}
	return m.src.read()
}

// Measure runs fn and returns the energy used meanwhile, and fn's error. ok
// is false when energy could not be read before or after; fn runs regardless.
// A power monitor is sampled every SampleInterval while fn runs.
func (m *Meter) Measure(ctx context.Context, fn func() error) (joules float64, ok bool, err error) {
	before, ok := m.Read(ctx)
	if ok && m.sample > 0 {
		stop := m.sampleEvery(m.sample)
		err = fn()
		stop()
	} else {
		err = fn()
	}
	if !ok {
		return 0, false, err
	}
	// Read the end even when fn ended because ctx was canceled: the energy
	// was spent all the same.
	after, ok := m.Read(context.WithoutCancel(ctx))
	if !ok || after < before {
		return 0, false, err
	}
	return after - before, true, err
}

// sampleEvery reads the source every d until the returned stop is called;
// stop waits for the sampler to end.
func (m *Meter) sampleEvery(d time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				m.src.read()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// raplDomain is one RAPL package zone.
type raplDomain struct {
	energy string // path of energy_uj
	max    uint64 // max_energy_range_uj: the counter wraps to 0 past it; 0 if unknown
}

// raplSource sums the package domains' energy_uj counters, accumulating
// deltas so that a counter wrapping at max_energy_range_uj does not make
// energy go backwards. (Powercap ABI:
// Documentation/ABI/testing/sysfs-class-powercap.) Two wraps between reads
// cannot be seen; at 50 W a 2^32 µJ range takes about 86 minutes to wrap once.
type raplSource struct {
	fs      *sysfs
	domains []raplDomain

	mu      sync.Mutex
	last    []uint64
	primed  bool
	totalUJ float64
}

// discoverRAPL returns the RAPL source, or nil when there is no package
// domain or one cannot be read (energy_uj is root-only on kernels patched for
// CVE-2020-8694, where a partial sum would undercount).
func discoverRAPL(root string, f *sysfs) *raplSource {
	dir := filepath.Join(root, "class", "powercap")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var doms []raplDomain
	for _, e := range entries {
		// intel-rapl:N is a package (or psys) zone; intel-rapl:N:M are its
		// core/uncore/dram subzones, already inside the package's count.
		if !strings.HasPrefix(e.Name(), "intel-rapl:") || strings.Count(e.Name(), ":") != 1 {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if name, ok := f.str(filepath.Join(p, "name")); !ok || !strings.HasPrefix(name, "package") {
			continue // psys (the whole platform) would count the package twice
		}
		energy := filepath.Join(p, "energy_uj")
		if _, ok := f.uint(energy); !ok {
			f.log.Debug("resources: RAPL energy_uj is not readable (root-only on many kernels); not measuring energy", "path", energy)
			return nil
		}
		d := raplDomain{energy: energy}
		if rng, ok := f.uint(filepath.Join(p, "max_energy_range_uj")); ok {
			d.max = rng
		}
		doms = append(doms, d)
	}
	if len(doms) == 0 {
		return nil
	}
	return &raplSource{fs: f, domains: doms}
}

func (r *raplSource) read() (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	raws := make([]uint64, len(r.domains))
	for i, d := range r.domains {
		v, ok := r.fs.uint(d.energy)
		if !ok {
			return 0, false
		}
		raws[i] = v
	}
	if r.primed {
		var add float64
		for i, d := range r.domains {
			cur, prev := raws[i], r.last[i]
			switch {
			case cur >= prev:
				add += float64(cur - prev)
			case d.max > 0 && prev <= d.max:
				add += float64(d.max-prev) + float64(cur) // wrapped past max to 0
			default:
				// Went backwards with no known range: start over from here.
				r.fs.malformed(d.energy, fmt.Sprint(cur), fmt.Sprintf("counter went back from %d without a known max_energy_range_uj", prev))
				r.last = raws
				return 0, false
			}
		}
		r.totalUJ += add
	}
	r.last, r.primed = raws, true
	return r.totalUJ / 1e6, true
}

// rail is one INA3221 channel.
type rail struct {
	label string
	// power is in_powerN_input in mW (L4T ina3221x); when empty, volts and
	// amps are in<N>_input in mV and curr<N>_input in mA (hwmon ina3221).
	power, mv, ma string
}

// milliwatts reads the rail's power.
func (r rail) milliwatts(f *sysfs) (float64, bool) {
	if r.power != "" {
		v, ok := f.int(r.power)
		return float64(v), ok
	}
	mv, ok1 := f.int(r.mv)
	ma, ok2 := f.int(r.ma)
	return float64(mv) * float64(ma) / 1000, ok1 && ok2
}

// discoverHwmon lists the channels of hwmon devices named ina3221. Per the
// kernel's Documentation/hwmon/ina3221.rst, channels 1-3 have in<N>_label,
// in<N>_enable, in<N>_input (bus voltage, mV) and curr<N>_input (mA); NVIDIA
// labels an unconnected channel "NC" (energymon jetson/JetsonPowerRails.md).
func discoverHwmon(root string, f *sysfs) []rail {
	dir := filepath.Join(root, "class", "hwmon")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var rails []rail
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if name, _ := f.str(filepath.Join(p, "name")); name != "ina3221" {
			continue
		}
		for ch := 1; ch <= 3; ch++ {
			label, ok := f.str(filepath.Join(p, fmt.Sprintf("in%d_label", ch)))
			if !ok || label == "" || label == "NC" {
				continue
			}
			if en, ok := f.int(filepath.Join(p, fmt.Sprintf("in%d_enable", ch))); ok && en == 0 {
				continue
			}
			r := rail{label: label, mv: filepath.Join(p, fmt.Sprintf("in%d_input", ch)), ma: filepath.Join(p, fmt.Sprintf("curr%d_input", ch))}
			if f.exists(r.mv) && f.exists(r.ma) {
				rails = append(rails, r)
			}
		}
	}
	return rails
}

// discoverIIO lists the channels of the L4T ina3221x driver:
// /sys/bus/i2c/drivers/ina3221x/<bus>-<addr>/iio:device<K>/ with rail_name_<N>
// and in_power<N>_input (mW) for channels 0-2 (energymon jetson/ina3221x.c;
// NVIDIA Jetson Linux 32 developer guide, "Power Management").
func discoverIIO(root string, f *sysfs) []rail {
	devs, _ := filepath.Glob(filepath.Join(root, "bus", "i2c", "drivers", "ina3221x", "*", "iio:device*"))
	var rails []rail
	for _, p := range devs {
		for ch := 0; ch <= 2; ch++ {
			label, ok := f.str(filepath.Join(p, fmt.Sprintf("rail_name_%d", ch)))
			if !ok || label == "" || label == "NC" {
				continue
			}
			r := rail{label: label, power: filepath.Join(p, fmt.Sprintf("in_power%d_input", ch))}
			if f.exists(r.power) {
				rails = append(rails, r)
			}
		}
	}
	return rails
}

// defaultRailSets are the outermost input rails of each Jetson, tried in
// order; the first set whose rails all exist is summed. From energymon's
// jetson/energymon-jetson.c and jetson/JetsonPowerRails.md, which cite the
// Jetson Linux developer guide and the L4T device trees:
//   - TX1, TX2: VDD_IN (module) and VDD_MUX (carrier), in parallel;
//   - Xavier NX, TX2 NX, Orin NX, Orin Nano: VDD_IN;
//   - Nano: POM_5V_IN;
//   - AGX Xavier: no parent rail; its six rails are in parallel;
//   - AGX Orin: VDD_GPU_SOC, VDD_CPU_CV and VIN_SYS_5V0 (VDDQ_VDD2_1V8AO is
//     fed from VIN_SYS_5V0, so it is left out).
//
// Summing every channel instead would count VDD_CPU inside VDD_IN twice.
var defaultRailSets = [][]string{
	{"VDD_IN", "VDD_MUX"},
	{"VDD_IN"},
	{"POM_5V_IN"},
	{"GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"},
	{"VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"},
}

// selectRails picks the rails named in want, or the first default set that
// is complete; nil when the wanted rails are not all there.
func selectRails(avail []rail, want []string, log *slog.Logger) []rail {
	pick := func(names []string) []rail {
		out := make([]rail, 0, len(names))
		for _, n := range names {
			i := -1
			for j, r := range avail {
				if strings.EqualFold(r.label, n) {
					i = j
					break
				}
			}
			if i < 0 {
				return nil
			}
			out = append(out, avail[i])
		}
		return out
	}
	labels := make([]string, len(avail))
	for i, r := range avail {
		labels[i] = r.label
	}
	if len(want) > 0 {
		rails := pick(want)
		if rails == nil {
			log.Warn("resources: configured power rails not found; not measuring energy", "want", want, "have", labels)
		}
		return rails
	}
	for _, set := range defaultRailSets {
		if rails := pick(set); rails != nil {
			return rails
		}
	}
	log.Info("resources: no known input rail among the power monitors; name the rails to sum to measure energy", "have", labels)
	return nil
}

// powerSource integrates sampled power over time (trapezoid rule).
type powerSource struct {
	fs    *sysfs
	rails []rail
	now   func() time.Time

	mu     sync.Mutex
	primed bool
	lastT  time.Time
	lastW  float64
	totalJ float64
}

func (p *powerSource) read() (float64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var w float64
	for _, r := range p.rails {
		mw, ok := r.milliwatts(p.fs)
		if !ok {
			return 0, false
		}
		w += mw / 1000
	}
	t := p.now()
	if p.primed {
		if dt := t.Sub(p.lastT).Seconds(); dt > 0 {
			p.totalJ += (p.lastW + w) / 2 * dt
		}
	}
	p.primed, p.lastT, p.lastW = true, t, w
	return p.totalJ, true
}
