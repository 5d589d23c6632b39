package resources

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tree writes a fake sysfs: keys are paths under root, values file contents.
func tree(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	write(t, root, files)
	return root
}

func write(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// merge combines fake sysfs fragments.
func merge(parts ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, p := range parts {
		for k, v := range p {
			out[k] = v
		}
	}
	return out
}

func battery(name, capacity, status string) map[string]string {
	d := "class/power_supply/" + name + "/"
	return map[string]string{d + "type": "Battery", d + "capacity": capacity, d + "status": status, d + "scope": "System"}
}

func mains(online string) map[string]string {
	return map[string]string{"class/power_supply/AC/type": "Mains", "class/power_supply/AC/online": online}
}

func zone(n, typ, milli string) map[string]string {
	d := "class/thermal/thermal_zone" + n + "/"
	return map[string]string{d + "type": typ, d + "temp": milli}
}

// clock is a settable clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuffer returns a logger that writes text records to buf, safe for
// concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func ptr[T any](v T) *T { return &v }

func fmtPtr[T any](p *T) any {
	if p == nil {
		return "nil"
	}
	return *p
}

func TestSnapshot(t *testing.T) {
	tests := []struct {
		name        string
		files       map[string]string
		onBattery   *bool
		percent     *float64
		maxTemp     *float64
		hottest     string
		zones       map[string]float64
		batteries   int
		wantWarning string // substring of the log, when a malformed value is expected
	}{
		{
			name:      "laptop on battery at 15%",
			files:     merge(battery("BAT0", "15", "Discharging"), mains("0"), zone("0", "x86_pkg_temp", "52000")),
			onBattery: ptr(true), percent: ptr(15.0), maxTemp: ptr(52.0), hottest: "x86_pkg_temp",
			zones: map[string]float64{"x86_pkg_temp": 52}, batteries: 1,
		},
		{
			name:      "charging at 15%",
			files:     merge(battery("BAT0", "15", "Charging"), mains("1")),
			onBattery: ptr(false), percent: ptr(15.0), batteries: 1,
		},
		{
			name:      "plugged in, charge threshold reached",
			files:     merge(battery("BAT0", "80", "Not charging"), mains("1")),
			onBattery: ptr(false), percent: ptr(80.0), batteries: 1,
		},
		{
			name:      "no mains reported, battery discharging",
			files:     battery("BAT0", "40", "Discharging"),
			onBattery: ptr(true), percent: ptr(40.0), batteries: 1,
		},
		{
			name:      "no mains reported, battery full",
			files:     battery("BAT0", "100", "Full"),
			onBattery: ptr(false), percent: ptr(100.0), batteries: 1,
		},
		{
			name:      "no mains reported, status unknown",
			files:     battery("BAT0", "55", "Unknown"),
			onBattery: nil, percent: ptr(55.0), batteries: 1,
		},
		{
			name: "USB-C charger online counts as external power",
			files: merge(battery("BAT0", "30", "Discharging"), mains("0"), map[string]string{
				"class/power_supply/ucsi-source-psy-USBC000:001/type":   "USB",
				"class/power_supply/ucsi-source-psy-USBC000:001/online": "1",
			}),
			onBattery: ptr(false), percent: ptr(30.0), batteries: 1,
		},
		{
			name:      "desktop: mains, no battery",
			files:     mains("1"),
			onBattery: ptr(false),
		},
		{
			name: "a mouse's battery is not the system's",
			files: merge(mains("1"), map[string]string{
				"class/power_supply/hidpp_battery_0/type":     "Battery",
				"class/power_supply/hidpp_battery_0/scope":    "Device",
				"class/power_supply/hidpp_battery_0/capacity": "5",
				"class/power_supply/hidpp_battery_0/status":   "Discharging",
			}),
			onBattery: ptr(false),
		},
		{
			name:      "empty battery bay is skipped",
			files:     merge(battery("BAT0", "60", "Discharging"), battery("BAT1", "0", "Unknown"), map[string]string{"class/power_supply/BAT1/present": "0"}),
			onBattery: ptr(true), percent: ptr(60.0), batteries: 1,
		},
		{
			name: "two batteries weighted by full energy",
			files: merge(battery("BAT0", "10", "Discharging"), battery("BAT1", "90", "Discharging"), map[string]string{
				"class/power_supply/BAT0/energy_full": "20000000",
				"class/power_supply/BAT1/energy_full": "80000000",
			}),
			onBattery: ptr(true), percent: ptr(74.0), batteries: 2,
		},
		{
			name: "two batteries, one without full capacity: the lowest",
			files: merge(battery("BAT0", "10", "Discharging"), battery("BAT1", "90", "Discharging"), map[string]string{
				"class/power_supply/BAT1/energy_full": "80000000",
			}),
			onBattery: ptr(true), percent: ptr(10.0), batteries: 2,
		},
		{
			name: "two batteries in different units: the lowest",
			files: merge(battery("BAT0", "70", "Discharging"), battery("BAT1", "20", "Discharging"), map[string]string{
				"class/power_supply/BAT0/energy_full": "20000000",
				"class/power_supply/BAT1/charge_full": "4000000",
			}),
			onBattery: ptr(true), percent: ptr(20.0), batteries: 2,
		},
		{
			name: "no capacity file: derived from energy_now/energy_full",
			files: merge(mains("0"), map[string]string{
				"class/power_supply/BAT0/type":        "Battery",
				"class/power_supply/BAT0/energy_now":  "12500000",
				"class/power_supply/BAT0/energy_full": "50000000",
			}),
			onBattery: ptr(true), percent: ptr(25.0), batteries: 1,
		},
		{
			name:    "hot zone",
			files:   merge(zone("0", "acpitz", "40000"), zone("1", "x86_pkg_temp", "90000")),
			maxTemp: ptr(90.0), hottest: "x86_pkg_temp",
			zones: map[string]float64{"acpitz": 40, "x86_pkg_temp": 90},
		},
		{
			name:    "zones sharing a type are told apart",
			files:   merge(zone("0", "acpitz", "40000"), zone("1", "acpitz", "47500"), zone("2", "", "30000")),
			maxTemp: ptr(47.5), hottest: "acpitz/thermal_zone1",
			zones: map[string]float64{"acpitz/thermal_zone0": 40, "acpitz/thermal_zone1": 47.5, "thermal_zone2": 30},
		},
		{
			name:    "Jetson PMIC-Die reads a constant 100 °C and is ignored",
			files:   merge(zone("0", "CPU-therm", "45500"), zone("1", "GPU-therm", "44000"), zone("2", "PMIC-Die", "100000")),
			maxTemp: ptr(45.5), hottest: "CPU-therm",
			zones: map[string]float64{"CPU-therm": 45.5, "GPU-therm": 44},
		},
		{
			name:    "an empty temp is malformed and skipped",
			files:   merge(zone("0", "iwlwifi_1", ""), zone("1", "acpitz", "38000")),
			maxTemp: ptr(38.0), hottest: "acpitz",
			zones:       map[string]float64{"acpitz": 38},
			wantWarning: "thermal_zone0/temp",
		},
		{
			name:  "empty root: everything unknown",
			files: map[string]string{},
		},
		{
			name: "malformed values are unknown and logged",
			files: merge(
				battery("BAT0", "lots", "Exploding"), mains("maybe"),
				zone("0", "acpitz", "hot"), zone("1", "x86_pkg_temp", "-273150"), zone("2", "cpu", "255000"),
			),
			batteries: 1, wantWarning: "malformed sysfs value",
		},
		{
			name:      "capacity out of range is malformed",
			files:     merge(battery("BAT0", "150", "Discharging"), mains("0")),
			onBattery: ptr(true), batteries: 1, wantWarning: "capacity outside 0-100",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			m := NewMonitor(Options{Root: tree(t, tc.files), Log: logs.Logger()})
			s := m.Snapshot(context.Background())
			if fmtPtr(s.OnBattery) != fmtPtr(tc.onBattery) {
				t.Errorf("OnBattery = %v, want %v", fmtPtr(s.OnBattery), fmtPtr(tc.onBattery))
			}
			if fmtPtr(s.BatteryPercent) != fmtPtr(tc.percent) {
				t.Errorf("BatteryPercent = %v, want %v", fmtPtr(s.BatteryPercent), fmtPtr(tc.percent))
			}
			if fmtPtr(s.MaxTempC) != fmtPtr(tc.maxTemp) || s.HottestZone != tc.hottest {
				t.Errorf("MaxTempC = %v in %q, want %v in %q", fmtPtr(s.MaxTempC), s.HottestZone, fmtPtr(tc.maxTemp), tc.hottest)
			}
			if len(s.Zones) != len(tc.zones) {
				t.Errorf("Zones = %v, want %v", s.Zones, tc.zones)
			}
			for k, v := range tc.zones {
				if got, ok := s.Zones[k]; !ok || got != v {
					t.Errorf("Zones[%q] = %v, %v; want %v", k, got, ok, v)
				}
			}
			if len(s.Batteries) != tc.batteries {
				t.Errorf("Batteries = %+v, want %d", s.Batteries, tc.batteries)
			}
			if s.ReadAt.IsZero() {
				t.Error("ReadAt is zero")
			}
			if tc.wantWarning != "" && !strings.Contains(logs.String(), tc.wantWarning) {
				t.Errorf("log does not mention %q:\n%s", tc.wantWarning, logs.String())
			}
			if tc.wantWarning == "" && strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("unexpected warning:\n%s", logs.String())
			}
		})
	}
}

func TestSnapshotMissingRoot(t *testing.T) {
	m := NewMonitor(Options{Root: filepath.Join(t.TempDir(), "does-not-exist")})
	s := m.Snapshot(context.Background())
	if s.OnBattery != nil || s.BatteryPercent != nil || s.MaxTempC != nil || s.Zones != nil || s.Batteries != nil {
		t.Errorf("want everything unknown, got %+v", s)
	}
	if v := Evaluate(s, true, DefaultRules()); v.Action != ActionNone || len(v.Fired) != 0 {
		t.Errorf("want no rule, got %+v", v)
	}
}

// TestScenarios runs the default rules over whole fake machines.
func TestScenarios(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		online bool
		action Action
		fired  []string
	}{
		{"laptop on battery at 15%, online", merge(battery("BAT0", "15", "Discharging"), mains("0"), zone("0", "x86_pkg_temp", "55000")), true, ActionPreferCloud, []string{"low-battery"}},
		{"laptop on battery at 15%, offline", merge(battery("BAT0", "15", "Discharging"), mains("0")), false, ActionForceLocal, []string{"low-battery", "offline"}},
		{"charging at 15%", merge(battery("BAT0", "15", "Charging"), mains("1")), true, ActionNone, nil},
		{"on battery at 20% is not below 20", merge(battery("BAT0", "20", "Discharging"), mains("0")), true, ActionNone, nil},
		{"hot zone", merge(mains("1"), zone("0", "x86_pkg_temp", "90000")), true, ActionSkipLocal, []string{"hot"}},
		{"exactly 85 °C is not above 85", zone("0", "x86_pkg_temp", "85000"), true, ActionNone, nil},
		{"hot and low battery: skip_local beats prefer_cloud", merge(battery("BAT0", "10", "Discharging"), zone("0", "cpu", "91000")), true, ActionSkipLocal, []string{"low-battery", "hot"}},
		{"offline beats hot", zone("0", "x86_pkg_temp", "90000"), false, ActionForceLocal, []string{"hot", "offline"}},
		{"empty root online", map[string]string{}, true, ActionNone, nil},
		{"empty root offline", map[string]string{}, false, ActionForceLocal, []string{"offline"}},
		{"malformed values fire nothing", merge(battery("BAT0", "x", "Discharging"), zone("0", "cpu", "9O000")), true, ActionNone, nil},
		{"Jetson PMIC-Die does not make it hot", merge(zone("0", "CPU-therm", "50000"), zone("1", "PMIC-Die", "100000")), true, ActionNone, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMonitor(Options{Root: tree(t, tc.files)})
			v := Evaluate(m.Snapshot(context.Background()), tc.online, DefaultRules())
			if v.Action != tc.action || strings.Join(v.Fired, ",") != strings.Join(tc.fired, ",") {
				t.Errorf("got %s %v, want %s %v", v.Action, v.Fired, tc.action, tc.fired)
			}
		})
	}
}

func TestSnapshotCache(t *testing.T) {
	root := tree(t, zone("0", "cpu", "50000"))
	set := func(milli string) { write(t, root, zone("0", "cpu", milli)) }
	temp := func(s Snapshot) float64 {
		t.Helper()
		if s.MaxTempC == nil {
			t.Fatal("no temperature")
		}
		return *s.MaxTempC
	}
	ctx := context.Background()

	t.Run("default interval is 5s", func(t *testing.T) {
		set("50000")
		clk := newClock()
		m := NewMonitor(Options{Root: root, Now: clk.Now})
		if got := temp(m.Snapshot(ctx)); got != 50 {
			t.Fatalf("first read %v", got)
		}
		set("60000")
		clk.Advance(4999 * time.Millisecond)
		if got := temp(m.Snapshot(ctx)); got != 50 {
			t.Errorf("within the interval: %v, want the cached 50", got)
		}
		clk.Advance(time.Millisecond)
		if got := temp(m.Snapshot(ctx)); got != 60 {
			t.Errorf("after the interval: %v, want 60", got)
		}
	})
	t.Run("configured interval", func(t *testing.T) {
		set("50000")
		clk := newClock()
		m := NewMonitor(Options{Root: root, Now: clk.Now, Interval: time.Minute})
		temp(m.Snapshot(ctx))
		set("70000")
		clk.Advance(30 * time.Second)
		if got := temp(m.Snapshot(ctx)); got != 50 {
			t.Errorf("within a minute: %v, want 50", got)
		}
		clk.Advance(30 * time.Second)
		if got := temp(m.Snapshot(ctx)); got != 70 {
			t.Errorf("after a minute: %v, want 70", got)
		}
	})
	t.Run("negative interval reads every time", func(t *testing.T) {
		set("50000")
		clk := newClock()
		m := NewMonitor(Options{Root: root, Now: clk.Now, Interval: -1})
		temp(m.Snapshot(ctx))
		set("80000")
		if got := temp(m.Snapshot(ctx)); got != 80 {
			t.Errorf("got %v, want 80", got)
		}
	})
	t.Run("done context returns the cached snapshot", func(t *testing.T) {
		set("50000")
		clk := newClock()
		m := NewMonitor(Options{Root: root, Now: clk.Now})
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		if s := m.Snapshot(canceled); s.MaxTempC != nil || !s.ReadAt.IsZero() {
			t.Errorf("before any read: want an empty snapshot, got %+v", s)
		}
		temp(m.Snapshot(ctx))
		set("90000")
		clk.Advance(time.Hour)
		if got := temp(m.Snapshot(canceled)); got != 50 {
			t.Errorf("got %v, want the stale 50", got)
		}
	})
	t.Run("snapshots do not share state", func(t *testing.T) {
		set("50000")
		m := NewMonitor(Options{Root: root, Now: newClock().Now})
		s := m.Snapshot(ctx)
		s.Zones["cpu"] = 1000
		*s.MaxTempC = 1000
		if got := m.Snapshot(ctx); got.Zones["cpu"] != 50 || *got.MaxTempC != 50 {
			t.Errorf("the cache was changed through a returned snapshot: %+v", got)
		}
	})
}

func TestSnapshotConcurrent(t *testing.T) {
	root := tree(t, merge(battery("BAT0", "50", "Discharging"), zone("0", "cpu", "50000")))
	clk := newClock()
	m := NewMonitor(Options{Root: root, Now: clk.Now, Interval: time.Millisecond})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				s := m.Snapshot(context.Background())
				if s.MaxTempC == nil || *s.MaxTempC != 50 || s.BatteryPercent == nil {
					t.Errorf("bad snapshot %+v", s)
					return
				}
				clk.Advance(time.Millisecond)
			}
		})
	}
	wg.Wait()
}

func TestMalformedLoggedOnce(t *testing.T) {
	var logs logBuffer
	root := tree(t, zone("0", "cpu", "warm"))
	m := NewMonitor(Options{Root: root, Log: logs.Logger(), Interval: -1})
	for range 5 {
		m.Snapshot(context.Background())
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings for one bad file, want 1:\n%s", n, logs.String())
	}
	// A different bad value is news; a good one clears the record.
	write(t, root, zone("0", "cpu", "warmer"))
	m.Snapshot(context.Background())
	write(t, root, zone("0", "cpu", "40000"))
	m.Snapshot(context.Background())
	write(t, root, zone("0", "cpu", "warm"))
	m.Snapshot(context.Background())
	if n := strings.Count(logs.String(), "level=WARN"); n != 3 {
		t.Errorf("%d warnings, want 3:\n%s", n, logs.String())
	}
}

func TestIgnoreZones(t *testing.T) {
	files := merge(zone("0", "CPU-therm", "50000"), zone("1", "PMIC-Die", "100000"), zone("2", "acpitz", "95000"))
	for _, tc := range []struct {
		name   string
		ignore []string
		want   float64
	}{
		{"nil ignores PMIC-Die", nil, 95},
		{"empty ignores none", []string{}, 100},
		{"custom, case-insensitive", []string{"ACPITZ", "pmic-die"}, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewMonitor(Options{Root: tree(t, files), IgnoreZones: tc.ignore}).Snapshot(context.Background())
			if s.MaxTempC == nil || *s.MaxTempC != tc.want {
				t.Errorf("MaxTempC = %v, want %v", fmtPtr(s.MaxTempC), tc.want)
			}
		})
	}
}

func TestSnapshotLogValue(t *testing.T) {
	var logs logBuffer
	s := Snapshot{OnBattery: ptr(true), BatteryPercent: ptr(12.0), MaxTempC: ptr(70.0), HottestZone: "cpu"}
	logs.Logger().Info("state", "snapshot", s)
	for _, want := range []string{"snapshot.on_battery=true", "snapshot.battery_percent=12", "snapshot.max_temp_c=70", "snapshot.hottest_zone=cpu"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %q", logs.String(), want)
		}
	}
}

// FuzzSnapshot writes arbitrary attribute values and checks that reading
// never fails and what is known stays in range.
func FuzzSnapshot(f *testing.F) {
	f.Add("15", "Discharging", "0", "90000")
	f.Add("abc", "Charging", "1", "hot")
	f.Add("-1", "", "2", "-273150")
	f.Add("100\n100", "Full\x00", "", "9223372036854775807")
	f.Fuzz(func(t *testing.T, capacity, status, online, temp string) {
		root := tree(t, merge(battery("BAT0", capacity, status), mains(online), zone("0", "cpu", temp)))
		s := NewMonitor(Options{Root: root}).Snapshot(context.Background())
		if p := s.BatteryPercent; p != nil && (*p < 0 || *p > 100) {
			t.Errorf("BatteryPercent %v out of range", *p)
		}
		if c := s.MaxTempC; c != nil && (*c < minPlausibleC || *c > maxPlausibleC) {
			t.Errorf("MaxTempC %v out of range", *c)
		}
		Evaluate(s, online == "1", DefaultRules())
	})
}
