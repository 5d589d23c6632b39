package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/configs"
)

// TestConfigFileSearch: with no --config, EDGECASCADE_CONFIG and then
// $XDG_CONFIG_HOME/edgecascade/config.yaml are used, and config and config
// validate say which file is in force.
func TestConfigFileSearch(t *testing.T) {
	xdg := t.TempDir()
	xdgFile := filepath.Join(xdg, "edgecascade", "config.yaml")
	os.MkdirAll(filepath.Dir(xdgFile), 0o755)
	os.WriteFile(xdgFile, []byte("cascade:\n  scorer: entropy\n"), 0o600)
	envFile := filepath.Join(t.TempDir(), "env.yaml")
	os.WriteFile(envFile, []byte("cascade:\n  scorer: min_logprob\n"), 0o600)
	flagFile := filepath.Join(t.TempDir(), "flag.yaml")
	os.WriteFile(flagFile, []byte("cascade:\n  scorer: selfref\n"), 0o600)
	bad := t.TempDir()
	badFile := filepath.Join(bad, "edgecascade", "config.yaml")
	os.MkdirAll(filepath.Dir(badFile), 0o755)
	os.WriteFile(badFile, []byte("cascade:\n  treshold: 0.5\n"), 0o600)
	missing := filepath.Join(t.TempDir(), "missing.yaml")

	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    string
		wantErr string
	}{
		{"xdg", map[string]string{"XDG_CONFIG_HOME": xdg}, nil, xdgFile + ": configuration is valid (local ollama qwen2.5:0.5b, cloud openai gpt-4o-mini, scorer entropy)", ""},
		{"env over xdg", map[string]string{"XDG_CONFIG_HOME": xdg, "EDGECASCADE_CONFIG": envFile}, nil, envFile + ": configuration is valid (local ollama qwen2.5:0.5b, cloud openai gpt-4o-mini, scorer min_logprob)", ""},
		{"flag over env", map[string]string{"XDG_CONFIG_HOME": xdg, "EDGECASCADE_CONFIG": envFile}, []string{"--config", flagFile}, flagFile + ": configuration is valid (local ollama qwen2.5:0.5b, cloud openai gpt-4o-mini, scorer selfref)", ""},
		{"none", map[string]string{"XDG_CONFIG_HOME": t.TempDir()}, nil, "built-in defaults: configuration is valid", ""},
		{"env names a missing file", map[string]string{"EDGECASCADE_CONFIG": missing}, nil, "", missing},
		{"implicit invalid file", map[string]string{"XDG_CONFIG_HOME": bad}, nil, "", badFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := run(t, tt.env, append([]string{"config", "validate"}, tt.args...)...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !strings.HasPrefix(out, tt.want) {
				t.Fatalf("out %q, err %v; want %q", out, err, tt.want)
			}
		})
	}
	out, _, err := run(t, map[string]string{"XDG_CONFIG_HOME": xdg}, "config")
	if err != nil || !strings.Contains(out, "config file: "+xdgFile+"\n") {
		t.Fatalf("config: out %q, err %v; want it to name %s", out, err, xdgFile)
	}
	out, _, err = run(t, map[string]string{"XDG_CONFIG_HOME": t.TempDir()}, "config")
	if err != nil || !strings.Contains(out, "config file: built-in defaults\n") {
		t.Fatalf("config: out %q, err %v; want built-in defaults", out, err)
	}
}

// TestTypedFlags: --help shows the setting flags' types; a typed flag
// overrides the file; a bad value is an error naming the flag.
func TestTypedFlags(t *testing.T) {
	out, _, err := run(t, nil, "serve", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--cascade.threshold float ", "--offline ", "--local.timeout duration ", "--server.max_connections int ",
		"--server.max_body_bytes int ", "--server.cors_origins strings ", "--log.level string ", "--outbox.enabled "} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	for _, absent := range []string{"--cloud.providers", "--resources.rules", "--cloud.api_key", "--server.auth_token "} {
		if strings.Contains(out, absent) {
			t.Errorf("--help has %q, a setting that is no flag", absent)
		}
	}

	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("cascade:\n  threshold: 0.2\n  scorer: entropy\n"), 0o600)
	out, _, err = run(t, nil, "config", "--config", file, "--cascade.threshold", "0.45", "--offline")
	if err != nil || !strings.Contains(out, "scorer entropy, threshold 0.45") {
		t.Fatalf("out %q, err %v; want the flag's threshold over the file's", out, err)
	}
	out, _, err = run(t, nil, "config", "--config", file)
	if err != nil || !strings.Contains(out, "threshold 0.2") {
		t.Fatalf("out %q, err %v; want the file's threshold", out, err)
	}

	for _, args := range [][]string{
		{"--cascade.threshold", "abc"},
		{"--local.timeout", "soon"},
		{"--server.max_connections", "many"},
	} {
		_, _, err := run(t, nil, append([]string{"config", "validate"}, args...)...)
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: err %v, want one naming %s", args, err, args[0])
		}
	}
}

// TestCompletionOfChoices: shell completion offers the allowed values of the
// enum settings.
func TestCompletionOfChoices(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"serve", "--cascade.scorer", ""}, []string{"mean_logprob", "min_logprob", "entropy", "selfref", "probe", "combined"}},
		{[]string{"ask", "--cascade.scorer", "m"}, []string{"mean_logprob", "min_logprob"}},
		{[]string{"config", "validate", "--local.backend", ""}, []string{"ollama", "llamacpp-server", "llamacpp"}},
		{[]string{"doctor", "--cloud.provider", ""}, []string{"openai", "anthropic"}},
		{[]string{"serve", "--log.level", ""}, []string{"debug", "info", "warn", "error"}},
		{[]string{"serve", "--uq.fallback_scorer", ""}, []string{"mean_logprob", "min_logprob", "entropy"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := run(t, nil, append([]string{"__complete"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			got := lines[:len(lines)-1] // the last line is the directive
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("completions %q, want %q", got, tt.want)
			}
			if d := lines[len(lines)-1]; d != ":4" { // ShellCompDirectiveNoFileComp
				t.Errorf("directive %q, want :4 (no file completion)", d)
			}
		})
	}
}

func TestBuildVersion(t *testing.T) {
	info := func(version string, settings ...debug.BuildSetting) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{Main: debug.Module{Path: "github.com/edgecascade/edgecascade", Version: version}, Settings: settings}, true
		}
	}
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}
	dirty := debug.BuildSetting{Key: "vcs.modified", Value: "true"}
	clean := debug.BuildSetting{Key: "vcs.modified", Value: "false"}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	tests := []struct {
		name string
		set  string
		info func() (*debug.BuildInfo, bool)
		want string
	}{
		{"ldflags win", "v1.4.0", info("v1.5.0", rev), "v1.4.0"},
		{"tagged module", "dev", info("v1.5.0"), "v1.5.0"},
		{"checkout, dirty", "dev", info("(devel)", rev, dirty), "dev (0123456789abcdef0123456789abcdef01234567+dirty)"},
		{"checkout, clean", "dev", info("(devel)", rev, clean), "dev (0123456789abcdef0123456789abcdef01234567)"},
		{"version from vcs with revision", "dev", info("v1.5.1-0.20261206020000-0123456789ab+dirty", rev, dirty), "v1.5.1-0.20261206020000-0123456789ab+dirty"},
		{"tag and revision", "dev", info("v1.5.0", rev), "v1.5.0 (0123456789abcdef0123456789abcdef01234567)"},
		{"no build info", "dev", none, "dev"},
		{"no version at all", "dev", info(""), "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := buildVersion(tt.set, tt.info); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestUnitsConfigInSearchOrder: the systemd units name the config file the
// search finds (the system unit /etc/edgecascade/config.yaml, the user unit
// the one under XDG_CONFIG_HOME, which systemd passes as %E).
func TestUnitsConfigInSearchOrder(t *testing.T) {
	xdg := t.TempDir()
	userFile := filepath.Join(xdg, "edgecascade", "config.yaml")
	os.MkdirAll(filepath.Dir(userFile), 0o755)
	os.WriteFile(userFile, nil, 0o600)
	for path, want := range map[string]string{
		"../../configs/systemd/edgecascade.service":      "/etc/edgecascade/config.yaml",
		"../../configs/systemd/user/edgecascade.service": userFile,
	} {
		start := unitDirectives(t, path)["Service"]["ExecStart"]
		if len(start) != 1 {
			t.Fatalf("%s: ExecStart %q", path, start)
		}
		_, config, ok := strings.Cut(start[0], "--config ")
		config, _, _ = strings.Cut(config, " ")
		config = strings.ReplaceAll(config, "%E", xdg)
		if !ok || config != want {
			t.Errorf("%s: --config %q, want %q", path, config, want)
		}
		if strings.Contains(path, "/user/") {
			got, err := configs.Find("", func(k string) string { return map[string]string{"XDG_CONFIG_HOME": xdg}[k] })
			if err != nil || got != config {
				t.Errorf("%s: the search finds %q (%v), the unit names %q", path, got, err, config)
			}
		}
	}
	out, _, err := run(t, nil, "completion", "bash")
	if err != nil || !strings.Contains(out, "__edgecascade") {
		t.Errorf("completion bash: %v, %.80q", err, out)
	}
}
