package configs

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExampleConfigs loads every example configuration the README points
// at through Load (unknown keys and bad values fail) and checks what each
// is for.
func TestExampleConfigs(t *testing.T) {
	// The examples must stand on their own: no setting from the environment.
	for _, e := range os.Environ() {
		if k, _, _ := strings.Cut(e, "="); strings.HasPrefix(k, EnvPrefix+"_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	loopback := func(t *testing.T, hostport string) {
		t.Helper()
		host, _, err := net.SplitHostPort(hostport)
		if err != nil || !net.ParseIP(host).IsLoopback() {
			t.Errorf("%q is not a loopback address", hostport)
		}
	}
	tests := []struct {
		file  string
		check func(t *testing.T, c *Config)
	}{
		{"laptop.yaml", func(t *testing.T, c *Config) {
			if c.Cloud.Provider != "openai" || c.Cloud.BaseURL != "" || c.Cascade.Threshold <= 0 {
				t.Errorf("laptop escalates to OpenAI on a positive threshold: %+v %+v", c.Cloud, c.Cascade)
			}
			if c.DataDir != "" {
				t.Errorf("laptop data_dir %q: want the per-user default", c.DataDir)
			}
		}},
		{"jetson.yaml", func(t *testing.T, c *Config) {
			if c.DataDir != "/var/lib/edgecascade" {
				t.Errorf("jetson data_dir %q: want the systemd StateDirectory /var/lib/edgecascade", c.DataDir)
			}
			if c.Local.Timeout < 60*time.Second || c.Cloud.MaxRetries < 3 {
				t.Errorf("jetson bounds: local timeout %v, cloud retries %d", c.Local.Timeout, c.Cloud.MaxRetries)
			}
		}},
		{"kiosk.yaml", func(t *testing.T, c *Config) {
			// Offline: the switch is on, no escalation on score, nothing
			// kept for later.
			if !c.Offline || c.Outbox.Enabled {
				t.Errorf("kiosk: offline %v, outbox %v; want offline with no outbox", c.Offline, c.Outbox.Enabled)
			}
			if c.Cascade.Threshold != 0 || c.Cascade.Calibration != "" {
				t.Errorf("kiosk escalates on score: threshold %v, calibration %q", c.Cascade.Threshold, c.Cascade.Calibration)
			}
			if c.Log.Content {
				t.Error("kiosk keeps prompts in the decision log")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, err := Load(filepath.Join(".", tt.file), nil)
			if err != nil {
				t.Fatalf("load %s: %v", tt.file, err)
			}
			loopback(t, c.Listen)
			if c.Cloud.APIKey != "" && os.Getenv("OPENAI_API_KEY") == "" && os.Getenv("ANTHROPIC_API_KEY") == "" {
				t.Errorf("%s holds an API key: keys belong in the environment", tt.file)
			}
			if c.Log.Content {
				t.Errorf("%s logs prompts and answers", tt.file)
			}
			tt.check(t, c)
		})
	}
}
