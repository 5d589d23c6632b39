package resources

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// raplMax is a common max_energy_range_uj (2^32 µJ scaled by the unit).
const raplMax = "262143328850"

func rapl(zone, name, energy string) map[string]string {
	d := "class/powercap/" + zone + "/"
	return map[string]string{d + "name": name, d + "energy_uj": energy, d + "max_energy_range_uj": raplMax}
}

// hwmonINA writes an ina3221 hwmon device; rails are label, mV, mA triples
// for channels 1, 2, 3.
func hwmonINA(dev string, rails ...[3]string) map[string]string {
	d := "class/hwmon/" + dev + "/"
	files := map[string]string{d + "name": "ina3221"}
	for i, r := range rails {
		ch := string(rune('1' + i))
		files[d+"in"+ch+"_label"] = r[0]
		files[d+"in"+ch+"_input"] = r[1]
		files[d+"curr"+ch+"_input"] = r[2]
		files[d+"in"+ch+"_enable"] = "1"
	}
	return files
}

// iioINA writes an L4T ina3221x device; rails are label, mW pairs for
// channels 0, 1, 2.
func iioINA(busAddr string, rails ...[2]string) map[string]string {
	d := "bus/i2c/drivers/ina3221x/" + busAddr + "/iio:device0/"
	files := map[string]string{}
	for i, r := range rails {
		ch := string(rune('0' + i))
		files[d+"rail_name_"+ch] = r[0]
		files[d+"in_power"+ch+"_input"] = r[1]
	}
	return files
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestRAPL(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name          string
		files         map[string]string
		before, after map[string]string // energy_uj per zone
		want          float64
		ok            bool
	}{
		{
			name:   "one package",
			files:  rapl("intel-rapl:0", "package-0", "1000000"),
			before: map[string]string{"intel-rapl:0": "1000000"},
			after:  map[string]string{"intel-rapl:0": "3500000"},
			want:   2.5, ok: true,
		},
		{
			name: "two packages summed; subzones and psys left out",
			files: merge(
				rapl("intel-rapl:0", "package-0", "0"), rapl("intel-rapl:1", "package-1", "0"),
				rapl("intel-rapl:0:0", "core", "0"), rapl("intel-rapl:2", "psys", "0"),
				rapl("intel-rapl-mmio:0", "package-0", "0"),
			),
			before: map[string]string{"intel-rapl:0": "1000000", "intel-rapl:1": "2000000", "intel-rapl:0:0": "0", "intel-rapl:2": "0", "intel-rapl-mmio:0": "0"},
			after:  map[string]string{"intel-rapl:0": "2000000", "intel-rapl:1": "4000000", "intel-rapl:0:0": "900000000", "intel-rapl:2": "900000000", "intel-rapl-mmio:0": "900000000"},
			want:   3, ok: true,
		},
		{
			name:   "counter wraps at max_energy_range_uj",
			files:  rapl("intel-rapl:0", "package-0", "0"),
			before: map[string]string{"intel-rapl:0": "262143000000"},
			after:  map[string]string{"intel-rapl:0": "1671150"},
			want:   (262143328850 - 262143000000 + 1671150) / 1e6, ok: true,
		},
		{
			name:   "malformed counter",
			files:  rapl("intel-rapl:0", "package-0", "0"),
			before: map[string]string{"intel-rapl:0": "5"},
			after:  map[string]string{"intel-rapl:0": "12x"},
			ok:     false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files)
			m := NewMeter(EnergyOptions{Root: root})
			if m.Source() != SourceRAPL {
				t.Fatalf("source %q, want rapl", m.Source())
			}
			set := func(vals map[string]string) {
				for z, v := range vals {
					write(t, root, map[string]string{"class/powercap/" + z + "/energy_uj": v})
				}
			}
			set(tc.before)
			j, ok, err := m.Measure(ctx, func() error { set(tc.after); return nil })
			if err != nil || ok != tc.ok || (ok && !near(j, tc.want)) {
				t.Errorf("Measure = %v, %v, %v; want %v, %v", j, ok, err, tc.want, tc.ok)
			}
		})
	}
}

func TestRAPLBackwardsWithoutRange(t *testing.T) {
	root := tree(t, map[string]string{"class/powercap/intel-rapl:0/name": "package-0", "class/powercap/intel-rapl:0/energy_uj": "5000000"})
	m := NewMeter(EnergyOptions{Root: root})
	ctx := context.Background()
	if _, ok := m.Read(ctx); !ok {
		t.Fatal("first read failed")
	}
	write(t, root, map[string]string{"class/powercap/intel-rapl:0/energy_uj": "1000000"})
	if _, ok := m.Read(ctx); ok {
		t.Error("a counter going back with no known range should not read")
	}
	// It starts over from the new value.
	write(t, root, map[string]string{"class/powercap/intel-rapl:0/energy_uj": "3000000"})
	j, ok, _ := m.Measure(ctx, func() error {
		write(t, root, map[string]string{"class/powercap/intel-rapl:0/energy_uj": "4000000"})
		return nil
	})
	if !ok || !near(j, 1) {
		t.Errorf("after recovery: %v, %v; want 1 J", j, ok)
	}
}

func TestRAPLCumulative(t *testing.T) {
	root := tree(t, rapl("intel-rapl:0", "package-0", "262143000000"))
	m := NewMeter(EnergyOptions{Root: root})
	ctx := context.Background()
	var last float64
	for _, v := range []string{"262143000000", "262143300000", "100000", "700000"} {
		write(t, root, map[string]string{"class/powercap/intel-rapl:0/energy_uj": v})
		j, ok := m.Read(ctx)
		if !ok || j < last {
			t.Fatalf("read %v, %v after %v: the counter must only grow", j, ok, last)
		}
		last = j
	}
	if want := (262143328850 - 262143000000 + 700000) / 1e6; !near(last, want) {
		t.Errorf("total %v, want %v", last, want)
	}
}

func TestPowerMonitors(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		rails  []string
		source string
		watts  float64 // summed power of the chosen rails
	}{
		{
			name: "Orin NX hwmon: VDD_IN only, not its sub-rails",
			files: hwmonINA("hwmon1",
				[3]string{"VDD_IN", "5000", "1200"}, [3]string{"VDD_CPU_GPU_CV", "5000", "500"}, [3]string{"VDD_SOC", "5000", "300"}),
			source: SourceINA3221, watts: 6,
		},
		{
			name: "AGX Orin hwmon: three parallel rails, VDDQ left out, NC skipped",
			files: merge(
				hwmonINA("hwmon2", [3]string{"VDD_GPU_SOC", "20000", "500"}, [3]string{"VDD_CPU_CV", "20000", "250"}, [3]string{"VIN_SYS_5V0", "5000", "800"}),
				hwmonINA("hwmon3", [3]string{"NC", "0", "0"}, [3]string{"VDDQ_VDD2_1V8AO", "5000", "400"}, [3]string{"NC", "0", "0"}),
				map[string]string{"class/hwmon/hwmon0/name": "acpitz", "class/hwmon/hwmon0/temp1_input": "40000"},
			),
			source: SourceINA3221, watts: 10 + 5 + 4,
		},
		{
			name:   "configured rails",
			files:  hwmonINA("hwmon1", [3]string{"VDD_IN", "5000", "1200"}, [3]string{"VDD_CPU_GPU_CV", "5000", "500"}),
			rails:  []string{"vdd_cpu_gpu_cv"},
			source: SourceINA3221, watts: 2.5,
		},
		{
			name:   "configured rail missing: nothing measured",
			files:  hwmonINA("hwmon1", [3]string{"VDD_IN", "5000", "1200"}),
			rails:  []string{"VDD_GPU"},
			source: SourceNone,
		},
		{
			name:   "unknown board: no known input rail, nothing measured",
			files:  hwmonINA("hwmon1", [3]string{"RAIL_A", "5000", "1200"}, [3]string{"RAIL_B", "5000", "500"}),
			source: SourceNone,
		},
		{
			name:   "disabled channel is skipped",
			files:  merge(hwmonINA("hwmon1", [3]string{"VDD_IN", "5000", "1200"}), map[string]string{"class/hwmon/hwmon1/in1_enable": "0"}),
			source: SourceNone,
		},
		{
			name:   "Nano ina3221x: POM_5V_IN",
			files:  iioINA("6-0040", [2]string{"POM_5V_IN", "4000"}, [2]string{"POM_5V_GPU", "1000"}, [2]string{"POM_5V_CPU", "1500"}),
			source: SourceINA3221x, watts: 4,
		},
		{
			name: "TX2 ina3221x: VDD_IN and VDD_MUX",
			files: merge(
				iioINA("0-0040", [2]string{"VDD_SYS_GPU", "1000"}, [2]string{"VDD_SYS_SOC", "900"}, [2]string{"VDD_4V0_WIFI", "100"}),
				iioINA("0-0041", [2]string{"VDD_IN", "5000"}, [2]string{"VDD_SYS_CPU", "700"}, [2]string{"VDD_SYS_DDR", "600"}),
				iioINA("0-0042", [2]string{"VDD_MUX", "1500"}, [2]string{"VDD_5V0_IO_SYS", "300"}, [2]string{"VDD_3V3_SYS", "200"}),
			),
			source: SourceINA3221x, watts: 6.5,
		},
		{
			name:   "nothing readable",
			files:  map[string]string{},
			source: SourceNone,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			m := NewMeter(EnergyOptions{Root: tree(t, tc.files), Rails: tc.rails, Now: clk.Now, SampleInterval: -1})
			if m.Source() != tc.source {
				t.Fatalf("source %q, want %q", m.Source(), tc.source)
			}
			j, ok, err := m.Measure(context.Background(), func() error { clk.Advance(2 * time.Second); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if tc.source == SourceNone {
				if ok {
					t.Errorf("measured %v J with no source", j)
				}
				return
			}
			if !ok || !near(j, tc.watts*2) {
				t.Errorf("Measure = %v J, %v; want %v J (%v W for 2 s)", j, ok, tc.watts*2, tc.watts)
			}
		})
	}
}

func TestPowerIntegration(t *testing.T) {
	clk := newClock()
	root := tree(t, hwmonINA("hwmon0", [3]string{"VDD_IN", "5000", "1000"}))
	setMA := func(ma string) { write(t, root, map[string]string{"class/hwmon/hwmon0/curr1_input": ma}) }
	m := NewMeter(EnergyOptions{Root: root, Now: clk.Now})
	ctx := context.Background()
	if j, ok := m.Read(ctx); !ok || j != 0 {
		t.Fatalf("first read %v, %v; want 0", j, ok)
	}
	clk.Advance(time.Second)
	setMA("3000") // 5 W then 15 W: trapezoid over 1 s is 10 J
	if j, ok := m.Read(ctx); !ok || !near(j, 10) {
		t.Errorf("after 1 s: %v, %v; want 10 J", j, ok)
	}
	clk.Advance(2 * time.Second) // steady 15 W for 2 s
	if j, ok := m.Read(ctx); !ok || !near(j, 40) {
		t.Errorf("after 3 s: %v, %v; want 40 J", j, ok)
	}
	setMA("bad")
	if _, ok := m.Read(ctx); ok {
		t.Error("malformed current should not read")
	}
}

// TestMeasureSamples checks that a power monitor is sampled while fn runs, so
// a power spike between the start and the end is counted.
func TestMeasureSamples(t *testing.T) {
	clk := newClock()
	root := tree(t, hwmonINA("hwmon0", [3]string{"VDD_IN", "5000", "1000"}))
	setMA := func(ma string) { write(t, root, map[string]string{"class/hwmon/hwmon0/curr1_input": ma}) }
	m := NewMeter(EnergyOptions{Root: root, Now: clk.Now, SampleInterval: time.Millisecond})
	src := m.src.(*powerSource)
	// sampled waits until the background sampler has seen watts at the
	// clock's current time.
	sampled := func(watts float64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			src.mu.Lock()
			seen := src.lastT.Equal(clk.Now()) && near(src.lastW, watts)
			src.mu.Unlock()
			if seen {
				return
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("the sampler did not read %v W", watts)
	}
	j, ok, err := m.Measure(context.Background(), func() error {
		setMA("3000") // 15 W ...
		sampled(15)
		clk.Advance(time.Second)
		sampled(15)
		setMA("1000") // ... then back to 5 W
		sampled(5)
		return errors.New("model failed")
	})
	if err == nil || err.Error() != "model failed" {
		t.Errorf("err = %v, want fn's error", err)
	}
	// Without sampling the trapezoid over the 5 W ends would be 5 J; the
	// sampler sees the 15 W second.
	if !ok || !near(j, 15) {
		t.Errorf("Measure = %v J, %v; want 15 J", j, ok)
	}
}

func TestMeterNoSource(t *testing.T) {
	m := NewMeter(EnergyOptions{Root: t.TempDir()})
	ran := false
	wantErr := errors.New("boom")
	j, ok, err := m.Measure(context.Background(), func() error { ran = true; return wantErr })
	if !ran || ok || j != 0 || !errors.Is(err, wantErr) {
		t.Errorf("Measure = %v, %v, %v (ran %v); want fn run, ok=false and its error", j, ok, err, ran)
	}
	if _, ok := m.Read(context.Background()); ok {
		t.Error("Read with no source should not be ok")
	}
}

func TestMeterCanceled(t *testing.T) {
	root := tree(t, rapl("intel-rapl:0", "package-0", "1000000"))
	m := NewMeter(EnergyOptions{Root: root})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := m.Read(ctx); ok {
		t.Error("Read with a done context should not be ok")
	}
	// A request canceled during fn is still measured.
	ctx, cancel = context.WithCancel(context.Background())
	j, ok, err := m.Measure(ctx, func() error {
		write(t, root, map[string]string{"class/powercap/intel-rapl:0/energy_uj": "2000000"})
		cancel()
		return ctx.Err()
	})
	if !ok || !near(j, 1) || !errors.Is(err, context.Canceled) {
		t.Errorf("Measure = %v, %v, %v; want 1 J and context.Canceled", j, ok, err)
	}
}

func TestMeterLogsMissingRails(t *testing.T) {
	var logs logBuffer
	NewMeter(EnergyOptions{Root: tree(t, hwmonINA("hwmon1", [3]string{"RAIL_A", "1", "1"})), Log: logs.Logger()})
	if !strings.Contains(logs.String(), "RAIL_A") {
		t.Errorf("the log should list the rails found:\n%s", logs.String())
	}
}
