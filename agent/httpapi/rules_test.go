package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/agent/outbox"
	"github.com/edgecascade/edgecascade/agent/resources"
	"github.com/edgecascade/edgecascade/models"
)

// sysfsTree writes a fake sysfs tree (real files in a temporary folder).
func sysfsTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

var (
	lowBattery = map[string]string{
		"class/power_supply/BAT0/type": "Battery", "class/power_supply/BAT0/scope": "System",
		"class/power_supply/BAT0/capacity": "15", "class/power_supply/BAT0/status": "Discharging",
		"class/power_supply/AC/type": "Mains", "class/power_supply/AC/online": "0",
	}
	pluggedIn = map[string]string{
		"class/power_supply/BAT0/type": "Battery", "class/power_supply/BAT0/scope": "System",
		"class/power_supply/BAT0/capacity": "80", "class/power_supply/BAT0/status": "Charging",
		"class/power_supply/AC/type": "Mains", "class/power_supply/AC/online": "1",
	}
	hot = map[string]string{"class/thermal/thermal_zone0/type": "x86_pkg_temp", "class/thermal/thermal_zone0/temp": "90000"}
)

func policy(t *testing.T, files map[string]string, rules []resources.Rule) *resources.Policy {
	t.Helper()
	m := resources.NewMonitor(resources.Options{Root: sysfsTree(t, files), Interval: -1})
	p, err := resources.NewPolicy(m, rules)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestResourceRulesRoute: the power and heat rules change routing in auto
// mode, with the real cascade, outbox and guards on the shared fakes and a
// fake sysfs tree; each rule that fires is named in cascade.reason.
func TestResourceRulesRoute(t *testing.T) {
	no := false
	plugged := append(resources.DefaultRules(), resources.Rule{Name: "plugged", When: resources.Condition{OnBattery: &no}, Action: resources.ActionForceLocal})
	tests := []struct {
		name      string
		files     map[string]string
		rules     []resources.Rule
		threshold float64
		cloudDown bool
		offline   bool
		status    int
		route     string
		reason    []string
		deferred  bool
		cloudHits int64
	}{
		{name: "no sysfs: the scorer decides", files: map[string]string{}, threshold: 0, status: 200, route: "local", reason: []string{"score"}},
		{name: "low battery prefers the cloud", files: lowBattery, threshold: 0, status: 200, route: "cloud",
			reason: []string{"resource rules low-battery: prefer_cloud; local generation skipped"}, cloudHits: 1},
		{name: "low battery, cloud down: local", files: lowBattery, threshold: 0, cloudDown: true, status: 200, route: "local",
			reason: []string{"resource rules low-battery: prefer_cloud; cloud failed", "answered locally"}},
		{name: "low battery, cloud down, unsure: local and deferred", files: lowBattery, threshold: 2, cloudDown: true, status: 200, route: "local",
			reason: []string{"resource rules low-battery: prefer_cloud; cloud failed", "answered locally", "deferred as dfr_"}, deferred: true},
		{name: "hot skips local", files: hot, threshold: 0, status: 200, route: "cloud", reason: []string{"resource rules hot: skip_local"}, cloudHits: 1},
		{name: "hot, cloud down: deferred, no local", files: hot, threshold: 0, cloudDown: true, status: 503},
		{name: "offline: local and deferred, rules named", files: lowBattery, threshold: 2, offline: true, status: 200, route: "local",
			reason: []string{"offline mode is on", "resource rules low-battery, offline"}, deferred: true},
		{name: "force_local never escalates online", files: pluggedIn, rules: plugged, threshold: 2, status: 200, route: "local",
			reason: []string{"resource rules plugged: force_local: not escalated"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules := tc.rules
			if rules == nil {
				rules = resources.DefaultRules()
			}
			d := newOfflineDaemon(t, offlineOpts{fake: true, threshold: tc.threshold, offline: tc.offline, resources: policy(t, tc.files, rules)})
			d.setCloudDown(tc.cloudDown)
			resp, a := askDeferred(t, d.URL, chatBody("auto", "What is 2+3?", false), nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %+v %+v", resp.StatusCode, tc.status, a.Cascade, a.Error)
			}
			if tc.status == 503 {
				id := resp.Header.Get("X-Cascade-Deferred-Id")
				if a.Error == nil || a.Error.Code != "deferred" || !outbox.ValidID(id) {
					t.Fatalf("want a deferred 503: %+v %q", a.Error, id)
				}
				return
			}
			c := a.Cascade
			if c.Route != tc.route || c.Deferred != tc.deferred {
				t.Fatalf("route %s deferred %v, want %s %v: %+v", c.Route, c.Deferred, tc.route, tc.deferred, c)
			}
			for _, want := range tc.reason {
				if !strings.Contains(c.Reason, want) {
					t.Fatalf("reason %q, want %q", c.Reason, want)
				}
			}
			if n := d.cloudAnswers(); n != tc.cloudHits {
				t.Fatalf("%d cloud answers, want %d", n, tc.cloudHits)
			}
		})
	}
}

// TestEnergyMetric: with a readable energy counter, each local generation's
// energy lands in the metrics.
func TestEnergyMetric(t *testing.T) {
	root := sysfsTree(t, map[string]string{
		"class/powercap/intel-rapl:0/name": "package-0", "class/powercap/intel-rapl:0/energy_uj": "1000000",
		"class/powercap/intel-rapl:0/max_energy_range_uj": "262143328850",
	})
	meter := resources.NewMeter(resources.EnergyOptions{Root: root})
	if meter.Source() != resources.SourceRAPL {
		t.Fatalf("source %q", meter.Source())
	}
	// The local generation takes long enough for the counter to advance.
	slow := fakeLocal()
	answer := slow.Answer
	slow.ChatFunc = func(ctx context.Context, _ models.Request) (*models.Response, error) {
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		resp := answer
		return &resp, nil
	}
	d := newOfflineDaemon(t, offlineOpts{fake: true, threshold: 0, energy: meter, local: slow})
	// The counter advances while the local model generates, as RAPL's does.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		uj := 1000000
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				uj += 50000
				// Atomically, as the kernel's counter never reads half-written.
				f := filepath.Join(root, "class/powercap/intel-rapl:0/energy_uj")
				_ = os.WriteFile(f+".tmp", []byte(strconv.Itoa(uj)+"\n"), 0o644)
				_ = os.Rename(f+".tmp", f)
			}
		}
	}()
	resp, a := askDeferred(t, d.URL, chatBody("auto", "What is 2+3?", false), nil)
	close(stop)
	<-done
	if resp.StatusCode != 200 || a.Cascade.Route != "local" {
		t.Fatalf("%d %+v", resp.StatusCode, a.Cascade)
	}
	resp, err := http.Get(d.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^edgecascade_local_energy_joules_sum (\S+)$`).FindSubmatch(body)
	if !regexp.MustCompile(`(?m)^edgecascade_local_energy_joules_count 1$`).Match(body) || m == nil {
		t.Fatalf("energy not observed:\n%s", regexp.MustCompile(`(?m)^edgecascade_local_energy.*$`).FindAll(body, -1))
	}
	if j, err := strconv.ParseFloat(string(m[1]), 64); err != nil || j <= 0 {
		t.Fatalf("energy of the local generation %s J, want > 0", m[1])
	}
}
