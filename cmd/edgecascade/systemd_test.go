package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitDirectives reads a systemd unit: section -> key -> values in order.
func unitDirectives(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: line %q is not key=value in a section", path, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

// TestSystemdUnits checks the service files: ExecStart runs this binary's
// serve command with flags serve has, the system unit is hardened and
// writes only its state folder, and systemd-analyze verify (when
// installed) accepts both units without a warning, with ExecStart pointed
// at the binary built for the tests.
func TestSystemdUnits(t *testing.T) {
	units := []struct {
		path, binPrefix string
		user            bool
		want            map[string]string // Service directives that must be set so
	}{
		{"../../configs/systemd/edgecascade.service", "/usr/local/bin/", false, map[string]string{
			"DynamicUser": "yes", "StateDirectory": "edgecascade", "NoNewPrivileges": "yes",
			"ProtectSystem": "strict", "ProtectHome": "yes", "Restart": "on-failure",
			"ReadWritePaths": "/var/lib/edgecascade", "Environment": "EDGECASCADE_DATA_DIR=/var/lib/edgecascade",
		}},
		{"../../configs/systemd/user/edgecascade.service", "%h/.local/bin/", true, map[string]string{
			"NoNewPrivileges": "yes", "Restart": "on-failure",
		}},
	}
	for _, u := range units {
		t.Run(filepath.Base(filepath.Dir(u.path))+"/"+filepath.Base(u.path), func(t *testing.T) {
			d := unitDirectives(t, u.path)
			svc := d["Service"]
			for k, v := range u.want {
				if got := svc[k]; len(got) != 1 || got[0] != v {
					t.Errorf("%s=%q, want %q", k, got, v)
				}
			}
			start := svc["ExecStart"]
			if len(start) != 1 {
				t.Fatalf("want one ExecStart, got %q", start)
			}
			argv := strings.Fields(start[0])
			if argv[0] != u.binPrefix+"edgecascade" {
				t.Errorf("ExecStart runs %q, want %sedgecascade", argv[0], u.binPrefix)
			}
			// The arguments must parse as this binary's command line.
			root := newRoot(&bytes.Buffer{}, &bytes.Buffer{})
			cmd, rest, err := root.Find(argv[1:])
			if err != nil || cmd.Name() != "serve" {
				t.Fatalf("ExecStart %q does not run serve: %v", start[0], err)
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Fatalf("ExecStart %q: serve rejects its flags: %v", start[0], err)
			}
			if len(cmd.Flags().Args()) != 0 {
				t.Errorf("ExecStart %q: serve takes no arguments, got %q", start[0], cmd.Flags().Args())
			}
			if cfg, _ := cmd.Flags().GetString("config"); cfg == "" {
				t.Errorf("ExecStart %q names no --config", start[0])
			}
			if len(d["Install"]["WantedBy"]) != 1 {
				t.Errorf("no WantedBy: `systemctl enable` would not start it")
			}

			sa, err := exec.LookPath("systemd-analyze")
			if err != nil {
				t.Skipf("systemd-analyze not installed (Debian: apt-get install systemd): %v", err)
			}
			b, err := os.ReadFile(u.path)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			copyPath := filepath.Join(dir, "edgecascade.service")
			text := strings.Replace(string(b), "ExecStart="+argv[0], "ExecStart="+binary, 1)
			if err := os.WriteFile(copyPath, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"verify", copyPath}
			c := exec.Command(sa, args...)
			if u.user {
				rt := filepath.Join(dir, "run")
				if err := os.Mkdir(rt, 0o700); err != nil {
					t.Fatal(err)
				}
				c = exec.Command(sa, append([]string{"--user"}, args...)...)
				c.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+rt)
			}
			out, err := c.CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) != 0 {
				t.Errorf("systemd-analyze verify: %v\n%s", err, out)
			}
		})
	}
}
