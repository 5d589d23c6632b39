// Package resources watches the machine's battery and temperatures so the
// cascade can route by power and heat: prefer the cloud on a low battery, skip
// local generation when the board is hot, stay local when offline. It also
// measures the energy an answer costs where the hardware tells (RAPL on x86,
// the INA3221 monitors on NVIDIA Jetson).
//
// Everything is read from sysfs under a configurable root, so tests use a fake
// tree. An absent file or folder means "unknown": no rule that needs it fires
// and nothing fails. A malformed value is logged once and treated as unknown.
package resources

import (
	"context"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultRoot is where sysfs is mounted.
const DefaultRoot = "/sys"

// DefaultInterval is how long a snapshot is reused before sysfs is read again.
const DefaultInterval = 5 * time.Second

// DefaultIgnoredZones returns the thermal zone types whose reading is not a
// temperature. On Jetson boards (Nano, TX2, Xavier) "PMIC-Die" reads a
// constant 100 °C until the PMIC crosses its 120 °C alarm: NVIDIA's answer in
// https://forums.developer.nvidia.com/t/what-does-each-temperature-zone-mean-ao-pll-thermal/121300/8
// Counting it would keep a "temp_above: 85" rule firing forever.
func DefaultIgnoredZones() []string { return []string{"PMIC-Die"} }

// Temperatures outside this range (°C) are sensor garbage (a switched-off
// sensor reading -273 or 255 °C) and are treated as malformed.
const (
	minPlausibleC = -50
	maxPlausibleC = 200
)

// Options configure a Monitor. The zero value is usable.
type Options struct {
	// Root is where sysfs is mounted; empty means DefaultRoot.
	Root string
	// Interval is how long a snapshot is reused: 0 means DefaultInterval, a
	// negative value reads sysfs on every call.
	Interval time.Duration
	// IgnoreZones lists thermal zone types (compared case-insensitively) left
	// out of the temperatures. Nil means DefaultIgnoredZones(); an empty,
	// non-nil slice ignores none.
	IgnoreZones []string
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
	// Log receives malformed-value warnings; nil discards them.
	Log *slog.Logger
}

// Snapshot is the machine's power and heat at one moment. A nil pointer is
// unknown: the machine does not report it, or reported something malformed.
type Snapshot struct {
	// OnBattery is true when running from a system battery, false on
	// external power, nil when there is no system battery or nothing says.
	OnBattery *bool
	// BatteryPercent is the charge left in the system batteries, 0-100. With
	// several batteries it is their combined charge (each weighted by its
	// full capacity) when every one reports its capacity, else the lowest.
	BatteryPercent *float64
	// MaxTempC is the hottest thermal zone in °C.
	MaxTempC *float64
	// HottestZone names the zone that read MaxTempC.
	HottestZone string
	// Zones maps each thermal zone to its temperature in °C. The key is the
	// zone's type ("x86_pkg_temp", "CPU-therm"); when several zones share a
	// type each is keyed "type/thermal_zoneN", and a zone without a type is
	// keyed by its folder name.
	Zones map[string]float64
	// Batteries lists the system batteries (not a mouse's or a phone's).
	Batteries []Battery
	// ReadAt is when sysfs was read; zero when it never was.
	ReadAt time.Time
}

// Battery is one system battery.
type Battery struct {
	// Name is the power_supply folder, e.g. "BAT0".
	Name string
	// Percent is the charge, 0-100; nil when unknown.
	Percent *float64
	// Status is the kernel's word: Charging, Discharging, Full, Not
	// charging or Unknown; empty when absent.
	Status string
}

// LogValue prints the snapshot compactly in logs.
func (s Snapshot) LogValue() slog.Value {
	attrs := []slog.Attr{}
	if s.OnBattery != nil {
		attrs = append(attrs, slog.Bool("on_battery", *s.OnBattery))
	}
	if s.BatteryPercent != nil {
		attrs = append(attrs, slog.Float64("battery_percent", *s.BatteryPercent))
	}
	if s.MaxTempC != nil {
		attrs = append(attrs, slog.Float64("max_temp_c", *s.MaxTempC), slog.String("hottest_zone", s.HottestZone))
	}
	return slog.GroupValue(attrs...)
}

// clone returns a copy that shares nothing mutable with s.
func (s Snapshot) clone() Snapshot {
	c := s
	c.OnBattery = clonePtr(s.OnBattery)
	c.BatteryPercent = clonePtr(s.BatteryPercent)
	c.MaxTempC = clonePtr(s.MaxTempC)
	c.Zones = maps.Clone(s.Zones)
	c.Batteries = make([]Battery, len(s.Batteries))
	for i, b := range s.Batteries {
		b.Percent = clonePtr(b.Percent)
		c.Batteries[i] = b
	}
	if s.Batteries == nil {
		c.Batteries = nil
	}
	return c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Monitor reads Snapshots from sysfs and caches them. It is safe for
// concurrent use.
type Monitor struct {
	root     string
	interval time.Duration
	ignore   map[string]bool
	now      func() time.Time
	fs       *sysfs

	mu         sync.Mutex
	cached     Snapshot
	have       bool
	refreshing bool
}

// NewMonitor returns a Monitor; it reads nothing until the first Snapshot.
func NewMonitor(opts Options) *Monitor {
	m := &Monitor{root: opts.Root, interval: opts.Interval, now: opts.Now, fs: newSysfs(opts.Log)}
	if m.root == "" {
		m.root = DefaultRoot
	}
	if m.interval == 0 {
		m.interval = DefaultInterval
	}
	if m.now == nil {
		m.now = time.Now
	}
	ignore := opts.IgnoreZones
	if ignore == nil {
		ignore = DefaultIgnoredZones()
	}
	m.ignore = make(map[string]bool, len(ignore))
	for _, z := range ignore {
		m.ignore[strings.ToLower(z)] = true
	}
	return m
}

// Snapshot returns the machine's state, read from sysfs at most once per
// interval. While one caller re-reads, the others get the previous snapshot
// instead of waiting (battery attributes can take milliseconds on some
// laptops). When ctx is done it returns the last snapshot, however old, or an
// empty one (everything unknown). The result is the caller's to keep.
func (m *Monitor) Snapshot(ctx context.Context) Snapshot {
	m.mu.Lock()
	fresh := m.have && m.interval > 0 && m.now().Sub(m.cached.ReadAt) < m.interval
	if fresh || ctx.Err() != nil || (m.refreshing && m.have) {
		s := m.cached.clone()
		m.mu.Unlock()
		return s
	}
	m.refreshing = true
	m.mu.Unlock()

	s := m.read()

	m.mu.Lock()
	m.cached, m.have, m.refreshing = s, true, false
	m.mu.Unlock()
	return s.clone()
}

// read reads the whole snapshot from sysfs.
func (m *Monitor) read() Snapshot {
	s := Snapshot{ReadAt: m.now()}
	m.readPower(&s)
	m.readThermal(&s)
	return s
}

// readPower fills the battery fields from /sys/class/power_supply (ABI:
// Documentation/ABI/testing/sysfs-class-power).
func (m *Monitor) readPower(s *Snapshot) {
	dir := filepath.Join(m.root, "class", "power_supply")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // no power_supply class: a desktop or a container; unknown
	}
	var (
		extSeen, extOnline bool
		weights            []float64 // full capacity of each battery, when all report one
		weightUnit         string
		allWeighted        = true
	)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		typ, _ := m.fs.str(filepath.Join(p, "type"))
		switch typ {
		case "Battery":
			if scope, ok := m.fs.str(filepath.Join(p, "scope")); ok && strings.EqualFold(scope, "Device") {
				continue // a peripheral's battery (mouse, headset), not ours
			}
			if present, ok := m.fs.int(filepath.Join(p, "present")); ok && present == 0 {
				continue // an empty battery bay
			}
			b := Battery{Name: e.Name(), Percent: m.batteryPercent(p), Status: m.batteryStatus(p)}
			s.Batteries = append(s.Batteries, b)
			if b.Percent == nil {
				continue
			}
			w, unit, ok := m.batteryFull(p)
			if !ok || (weightUnit != "" && unit != weightUnit) {
				allWeighted = false
			}
			weightUnit = unit
			weights = append(weights, w)
		case "UPS", "":
			// A UPS powers the machine through its mains; no type: unknown.
		default: // Mains, USB, USB_C, USB_PD, Wireless, ...: an external supply
			if online, ok := m.fs.int(filepath.Join(p, "online")); ok {
				extSeen = true
				extOnline = extOnline || online > 0
			}
		}
	}
	s.OnBattery = onBattery(s.Batteries, extSeen, extOnline)
	s.BatteryPercent = combinedPercent(s.Batteries, weights, allWeighted)
}

// batteryPercent reads capacity (%), or derives it from energy_now /
// energy_full (µWh) or charge_now / charge_full (µAh) on batteries that do not
// report capacity.
func (m *Monitor) batteryPercent(dir string) *float64 {
	path := filepath.Join(dir, "capacity")
	if v, ok := m.fs.int(path); ok {
		if v < 0 || v > 100 {
			m.fs.malformed(path, formatInt(v), "capacity outside 0-100")
			return nil
		}
		f := float64(v)
		return &f
	}
	if m.fs.exists(path) {
		return nil // present but malformed: already logged
	}
	for _, pair := range [][2]string{{"energy_now", "energy_full"}, {"charge_now", "charge_full"}} {
		now, ok1 := m.fs.int(filepath.Join(dir, pair[0]))
		full, ok2 := m.fs.int(filepath.Join(dir, pair[1]))
		if ok1 && ok2 && full > 0 && now >= 0 {
			f := min(100, 100*float64(now)/float64(full))
			return &f
		}
	}
	return nil
}

// batteryStatus reads status; a word the kernel does not use is logged and
// unknown.
func (m *Monitor) batteryStatus(dir string) string {
	path := filepath.Join(dir, "status")
	st, ok := m.fs.str(path)
	if !ok {
		return ""
	}
	switch st {
	case "Charging", "Discharging", "Full", "Not charging", "Unknown":
		return st
	}
	m.fs.malformed(path, st, "want Charging, Discharging, Full, Not charging or Unknown")
	return ""
}

// batteryFull returns the battery's full capacity and its unit, to weigh it
// against the others.
func (m *Monitor) batteryFull(dir string) (float64, string, bool) {
	for _, name := range []string{"energy_full", "charge_full"} {
		if v, ok := m.fs.int(filepath.Join(dir, name)); ok && v > 0 {
			return float64(v), name, true
		}
	}
	return 0, "", false
}

// onBattery decides from the external supplies and the battery statuses. An
// online external supply, or a charging battery, means external power;
// external supplies that are all offline, or a discharging battery, mean
// battery. Without a system battery the question does not arise: nil.
func onBattery(bats []Battery, extSeen, extOnline bool) *bool {
	yes, no := true, false
	if extOnline {
		return &no
	}
	if len(bats) == 0 {
		return nil
	}
	for _, b := range bats {
		if b.Status == "Charging" {
			return &no
		}
	}
	if extSeen {
		return &yes
	}
	for _, b := range bats {
		if b.Status == "Discharging" {
			return &yes
		}
	}
	for _, b := range bats {
		if b.Status == "Full" || b.Status == "Not charging" {
			return &no
		}
	}
	return nil
}

// combinedPercent is the charge left across the batteries with a known
// percentage: weighted by full capacity when every one reports it in the same
// unit (BAT0 at 10% of 20 Wh plus BAT1 at 90% of 80 Wh is 74%), else the
// lowest, which errs towards saving power.
func combinedPercent(bats []Battery, weights []float64, allWeighted bool) *float64 {
	var known []float64
	for _, b := range bats {
		if b.Percent != nil {
			known = append(known, *b.Percent)
		}
	}
	if len(known) == 0 {
		return nil
	}
	if allWeighted && len(weights) == len(known) {
		var sum, total float64
		for i, p := range known {
			sum += p * weights[i]
			total += weights[i]
		}
		if total > 0 {
			v := sum / total
			return &v
		}
	}
	v := slices.Min(known)
	return &v
}

// readThermal fills the temperature fields from /sys/class/thermal (ABI:
// Documentation/ABI/testing/sysfs-class-thermal; temp is in millidegrees C).
func (m *Monitor) readThermal(s *Snapshot) {
	dir := filepath.Join(m.root, "class", "thermal")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type zone struct {
		dir, typ string
		c        float64
	}
	var zones []zone
	count := map[string]int{}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "thermal_zone") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		typ, _ := m.fs.str(filepath.Join(p, "type"))
		if m.ignore[strings.ToLower(typ)] {
			continue
		}
		path := filepath.Join(p, "temp")
		milli, ok := m.fs.int(path)
		if !ok {
			continue
		}
		c := float64(milli) / 1000
		if c < minPlausibleC || c > maxPlausibleC {
			m.fs.malformed(path, formatInt(milli), "temperature outside -50..200 °C")
			continue
		}
		zones = append(zones, zone{dir: e.Name(), typ: typ, c: c})
		count[typ]++
	}
	if len(zones) == 0 {
		return
	}
	s.Zones = make(map[string]float64, len(zones))
	for _, z := range zones {
		key := z.typ
		switch {
		case z.typ == "":
			key = z.dir
		case count[z.typ] > 1:
			key = z.typ + "/" + z.dir
		}
		s.Zones[key] = z.c
		if s.MaxTempC == nil || z.c > *s.MaxTempC || (z.c == *s.MaxTempC && key < s.HottestZone) {
			c := z.c
			s.MaxTempC, s.HottestZone = &c, key
		}
	}
}
