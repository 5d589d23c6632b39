package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spf13/pflag"
)

// ConfigEnv names the environment variable that names the config file.
const ConfigEnv = EnvPrefix + "_CONFIG"

// SearchOrder describes, in words, where Find looks (for --help and docs).
const SearchOrder = "--config, $" + ConfigEnv + ", $XDG_CONFIG_HOME/edgecascade/config.yaml " +
	"(~/.config/edgecascade/config.yaml when XDG_CONFIG_HOME is unset), /etc/edgecascade/config.yaml: the first that exists"

// Find returns the config file in force, "" when there is none (the
// built-in defaults then apply). It looks, in order, at explicit (--config),
// $EDGECASCADE_CONFIG, $XDG_CONFIG_HOME/edgecascade/config.yaml (or
// ~/.config/edgecascade/config.yaml when XDG_CONFIG_HOME is unset) and
// /etc/edgecascade/config.yaml, and returns the first that exists. A file
// named explicitly (flag or environment) that does not exist is an error
// naming it; the implicit places are skipped when absent (or out of sight: a
// folder on the way that is a file or that this user may not search), but
// one that exists and cannot be used (not a regular file, not readable) is
// an error naming it, as is one Load then finds invalid. getenv reads the
// environment (os.Getenv).
func Find(explicit string, getenv func(string) string) (string, error) {
	return findIn("/", explicit, getenv)
}

// findIn is Find with /etc under root (tests use a temporary folder).
func findIn(root, explicit string, getenv func(string) string) (string, error) {
	if explicit != "" {
		return named(explicit, "--config")
	}
	if p := getenv(ConfigEnv); p != "" {
		return named(p, ConfigEnv)
	}
	var implicit []string
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		implicit = append(implicit, filepath.Join(x, "edgecascade", "config.yaml"))
	} else if home := getenv("HOME"); home != "" {
		implicit = append(implicit, filepath.Join(home, ".config", "edgecascade", "config.yaml"))
	}
	implicit = append(implicit, filepath.Join(root, "etc", "edgecascade", "config.yaml"))
	for _, p := range implicit {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR), errors.Is(err, fs.ErrPermission):
			continue // absent, or out of this user's sight
		case err != nil:
			return "", fmt.Errorf("read config %s: %w", p, err)
		case !fi.Mode().IsRegular():
			return "", fmt.Errorf("read config %s: not a regular file", p)
		}
		f, err := os.Open(p)
		if err != nil {
			return "", fmt.Errorf("read config %s: %w", p, err)
		}
		f.Close()
		return p, nil
	}
	return "", nil
}

// named checks a config file named by via (a flag or variable).
func named(path, via string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("read config (%s): %w", via, err)
	}
	if fi.IsDir() {
		return "", fmt.Errorf("read config (%s): %s is a folder", via, path)
	}
	return path, nil
}

// FindAndLoad finds the config file (Find) and loads it (Load); it returns
// the configuration and the file in force ("" for the built-in defaults).
func FindAndLoad(explicit string, getenv func(string) string, flags *pflag.FlagSet) (*Config, string, error) {
	path, err := Find(explicit, getenv)
	if err != nil {
		return nil, "", err
	}
	c, err := Load(path, flags)
	if err != nil {
		return nil, path, err
	}
	return c, path, nil
}
