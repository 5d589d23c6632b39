package configs

import "github.com/spf13/pflag"

// AddFlags adds a flag for each setting key to fs, so that
// `--cascade.threshold 0.4` overrides file and environment when the flags
// that were set are given to Load. Secrets get no flag: they do not belong
// on command lines (ps, shell history).
func AddFlags(fs *pflag.FlagSet) {
	for _, s := range Settings {
		if s.Key == "cloud.api_key" || s.Key == "server.auth_token" {
			continue
		}
		fs.String(s.Key, "", s.Description+" (env "+s.Env()+")")
		if s.Key == "offline" {
			fs.Lookup(s.Key).NoOptDefVal = "true" // --offline alone turns it on
		}
	}
}

// ChangedFlags is the set of fs's flags that were set on the command line:
// what Load should apply (a flag not set does not override).
func ChangedFlags(fs *pflag.FlagSet) *pflag.FlagSet {
	changed := pflag.NewFlagSet("changed", pflag.ContinueOnError)
	fs.Visit(func(f *pflag.Flag) { changed.AddFlag(f) })
	return changed
}
