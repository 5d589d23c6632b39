//go:build noeval

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// evalCmd is a placeholder in a build with -tags noeval: the report's
// plotting library (gonum.org/v1/plot) parses its embedded fonts when the
// process starts, whatever the command, which costs the idle daemon about
// 3 MB of resident memory (docs/bench.md, section 5). Such a build is for
// machines that only run `serve`.
func (a *app) evalCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "eval",
		Short: "Not in this build (built with -tags noeval)",
		// Any flags of the real command lead to the message below.
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("eval is not in this build (built with -tags noeval to save the daemon's memory); use a default build")
		},
	}
}
