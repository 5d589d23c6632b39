package configs

import (
	"fmt"
	"reflect"
	"time"

	"github.com/spf13/pflag"
)

// AddFlags adds a flag for each setting key to fs, typed as its Config field
// (bool, float64, int, int64, duration, string, string slice), so that
// `--cascade.threshold 0.4` overrides file and environment when the flags
// that were set are given to Load, and a bad value is refused naming the
// flag. Secrets get no flag: they do not belong on command lines (ps, shell
// history); nor do lists of objects, which only a file can express. A bool
// flag alone means true (`--offline`).
func AddFlags(fs *pflag.FlagSet) {
	for _, s := range Settings {
		if s.secret() || s.fileOnly() {
			continue
		}
		if err := addFlag(fs, s); err != nil {
			panic(fmt.Sprintf("configs: %v", err)) // a build defect: TestAddFlags covers every setting
		}
	}
}

// addFlag adds the flag of one setting, typed by its Config field.
func addFlag(fs *pflag.FlagSet, s Setting) error {
	t, err := fieldType(s.Key)
	if err != nil {
		return err
	}
	usage := s.Description + " (env " + s.Env() + ")"
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		fs.Duration(s.Key, 0, usage)
	case t.Kind() == reflect.Bool:
		fs.Bool(s.Key, false, usage)
	case t.Kind() == reflect.Float64:
		fs.Float64(s.Key, 0, usage)
	case t.Kind() == reflect.Int:
		fs.Int(s.Key, 0, usage)
	case t.Kind() == reflect.Int64:
		fs.Int64(s.Key, 0, usage)
	case t.Kind() == reflect.String:
		fs.String(s.Key, "", usage)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		fs.StringSlice(s.Key, nil, usage+"; comma-separated or repeated")
	default:
		return fmt.Errorf("setting %s: no flag for a field of type %s", s.Key, t)
	}
	return nil
}

// ChangedFlags is the set of fs's flags that were set on the command line:
// what Load should apply (a flag not set does not override).
func ChangedFlags(fs *pflag.FlagSet) *pflag.FlagSet {
	changed := pflag.NewFlagSet("changed", pflag.ContinueOnError)
	fs.Visit(func(f *pflag.Flag) { changed.AddFlag(f) })
	return changed
}
