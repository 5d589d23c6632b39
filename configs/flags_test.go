package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestAddFlagsTypes: every setting that may be a flag has one, typed as its
// Config field; secrets and lists of objects have none.
func TestAddFlagsTypes(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs)
	want := map[string]string{
		"cascade.threshold":      "float64",
		"offline":                "bool",
		"local.timeout":          "duration",
		"server.max_connections": "int",
		"server.max_body_bytes":  "int64",
		"local.model":            "string",
		"server.cors_origins":    "stringSlice",
		"uq.selfref.tokens":      "stringSlice",
	}
	for k, typ := range want {
		f := fs.Lookup(k)
		if f == nil || f.Value.Type() != typ {
			t.Errorf("flag --%s: %v, want type %s", k, f, typ)
		}
	}
	for _, s := range Settings {
		f := fs.Lookup(s.Key)
		switch {
		case s.secret() || s.fileOnly():
			if f != nil {
				t.Errorf("setting %s has a flag; secrets and lists of objects must not", s.Key)
			}
		case f == nil:
			t.Errorf("setting %s has no flag", s.Key)
		}
	}
	if f := fs.Lookup("offline"); f.NoOptDefVal != "true" {
		t.Errorf("--offline alone: NoOptDefVal %q, want true", f.NoOptDefVal)
	}
}

// TestFlagsPrecedence: file < env < flags that were set, with typed flags.
func TestFlagsPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("cascade:\n  threshold: 0.2\nlocal:\n  timeout: 30s\nserver:\n  max_connections: 7\n  cors_origins: [\"http://a.test\"]\n"), 0o600)
	t.Setenv("EDGECASCADE_LOCAL_TIMEOUT", "40s")
	t.Setenv("EDGECASCADE_SERVER_MAX_CONNECTIONS", "8")
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse([]string{"--cascade.threshold", "0.4", "--offline", "--server.cors_origins", "http://b.test,http://c.test", "--server.cors_origins=http://d.test"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file, ChangedFlags(fs))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cascade.Threshold != 0.4 || !c.Offline || c.Local.Timeout != 40*time.Second || c.Server.MaxConnections != 8 {
		t.Errorf("threshold %v offline %v timeout %v max_connections %d; want 0.4 (flag) true (flag) 40s (env) 8 (env)",
			c.Cascade.Threshold, c.Offline, c.Local.Timeout, c.Server.MaxConnections)
	}
	if got := strings.Join(c.Server.CORSOrigins, " "); got != "http://b.test http://c.test http://d.test" {
		t.Errorf("cors_origins %q, want the flag's three", got)
	}
	// Flags not set do not override: their zero values stay out.
	fs = pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs)
	c, err = Load(file, ChangedFlags(fs))
	if err != nil || c.Cascade.Threshold != 0.2 || c.Server.MaxConnections != 8 || c.Local.Timeout != 40*time.Second {
		t.Fatalf("got %+v, %v; want the file's and env's values", c, err)
	}
}

func TestFlagsBadValueNamesFlag(t *testing.T) {
	for _, args := range [][]string{
		{"--cascade.threshold", "abc"},
		{"--local.timeout", "soon"},
		{"--server.max_connections", "1.5"},
		{"--offline=maybe"},
	} {
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		fs.SetOutput(new(strings.Builder))
		AddFlags(fs)
		err := fs.Parse(args)
		name := strings.SplitN(strings.TrimPrefix(args[0], "--"), "=", 2)[0]
		if err == nil || !strings.Contains(err.Error(), "--"+name) {
			t.Errorf("%v: err %v, want one naming --%s", args, err, name)
		}
	}
}

// TestChoices: the enum settings' values are what Validate accepts, and
// the reference lists each of them.
func TestChoices(t *testing.T) {
	for key, vals := range choices {
		if len(Choices(key)) != len(vals) {
			t.Fatalf("Choices(%s) = %v", key, Choices(key))
		}
		for _, v := range vals {
			if !strings.Contains(allowed[key], "`"+v+"`") {
				t.Errorf("the reference of %s does not list %q", key, v)
			}
			c := Default()
			switch key {
			case "local.backend":
				if v == BackendLlamaCpp {
					continue // needs a GGUF file; tested in config_test.go
				}
				c.Local.Backend = v
			case "cloud.provider":
				c.Cloud.Provider = v
			case "cascade.scorer":
				c.Cascade.Scorer = v
				c.Probe.Path, c.Probe.ONNXRuntimeLib, c.Cascade.Calibration = "p.onnx", "lib.so", "c.json"
			case "uq.fallback_scorer":
				c.UQ.FallbackScorer = v
			case "log.level":
				c.Log.Level = v
			default:
				t.Fatalf("no case for %s", key)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("%s %q: %v", key, v, err)
			}
		}
		c := Default()
		c.Cloud.Provider, c.Local.Backend, c.Cascade.Scorer, c.UQ.FallbackScorer, c.Log.Level = "x", "x", "x", "x", "x"
		if err := c.Validate(); err == nil {
			t.Fatal("x accepted")
		}
	}
	if Choices("cascade.threshold") != nil {
		t.Error("cascade.threshold has choices")
	}
}
