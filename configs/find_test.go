package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, body string) string {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flagFile := write("flag.yaml", "")
	envFile := write("env.yaml", "")
	xdgFile := write("xdg/edgecascade/config.yaml", "")
	homeFile := write("home/.config/edgecascade/config.yaml", "")
	root := filepath.Join(dir, "root")
	etcFile := write("root/etc/edgecascade/config.yaml", "")
	emptyRoot := filepath.Join(dir, "emptyroot")
	dirRoot := filepath.Join(dir, "dirroot")
	if err := os.MkdirAll(filepath.Join(dirRoot, "etc", "edgecascade", "config.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")

	tests := []struct {
		name     string
		root     string
		explicit string
		env      map[string]string
		want     string
		wantErr  string
	}{
		{"flag first", root, flagFile, map[string]string{ConfigEnv: envFile, "XDG_CONFIG_HOME": filepath.Join(dir, "xdg")}, flagFile, ""},
		{"env next", root, "", map[string]string{ConfigEnv: envFile, "XDG_CONFIG_HOME": filepath.Join(dir, "xdg")}, envFile, ""},
		{"xdg next", root, "", map[string]string{"XDG_CONFIG_HOME": filepath.Join(dir, "xdg"), "HOME": filepath.Join(dir, "home")}, xdgFile, ""},
		{"home when xdg unset", root, "", map[string]string{"HOME": filepath.Join(dir, "home")}, homeFile, ""},
		{"etc last", root, "", map[string]string{"XDG_CONFIG_HOME": filepath.Join(dir, "nothing"), "HOME": filepath.Join(dir, "nohome")}, etcFile, ""},
		{"xdg set but absent: not home", root, "", map[string]string{"XDG_CONFIG_HOME": filepath.Join(dir, "nothing"), "HOME": filepath.Join(dir, "home")}, etcFile, ""},
		{"none: built-in defaults", emptyRoot, "", nil, "", ""},
		{"xdg under a file: skipped", root, "", map[string]string{"XDG_CONFIG_HOME": flagFile}, etcFile, ""},
		{"explicit missing", root, missing, nil, "", missing},
		{"env missing", root, "", map[string]string{ConfigEnv: missing}, "", ConfigEnv},
		{"explicit folder", root, dir, nil, "", dir},
		{"implicit folder", dirRoot, "", nil, "", filepath.Join(dirRoot, "etc", "edgecascade", "config.yaml")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findIn(tt.root, tt.explicit, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestFindAndLoadNamesBadFile: an implicit file that exists but is invalid
// is an error naming it, not skipped.
func TestFindAndLoadNamesBadFile(t *testing.T) {
	xdg := t.TempDir()
	p := filepath.Join(xdg, "edgecascade", "config.yaml")
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("cascade:\n  treshold: 0.5\n"), 0o600)
	env := func(k string) string {
		if k == "XDG_CONFIG_HOME" {
			return xdg
		}
		return ""
	}
	_, path, err := FindAndLoad("", env, nil)
	if err == nil || !strings.Contains(err.Error(), p) || path != p {
		t.Fatalf("err %v, path %q; want an error naming %s", err, path, p)
	}
	os.WriteFile(p, []byte("cascade:\n  threshold: 0.25\n"), 0o600)
	c, path, err := FindAndLoad("", env, nil)
	if err != nil || path != p || c.Cascade.Threshold != 0.25 {
		t.Fatalf("got %v, %q, %v; want threshold 0.25 from %s", c, path, err, p)
	}
}
