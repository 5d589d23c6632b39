// Command edgecascade-bench measures what the edgecascade daemon itself
// costs, side by side in one run: latency against Ollama direct, routing
// and scoring overhead, requests/s, and the idle daemon's resident memory
// (by mapping and by package, from /proc and the ELF symbol table). It is
// tooling, not part of the product binary: it runs an edgecascade binary
// (--daemon) as `edgecascade serve` and measures it from outside.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/edgecascade/edgecascade/configs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot(os.Stdout).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "edgecascade-bench:", err)
		os.Exit(1)
	}
}

// flags are the command's flags.
type flags struct {
	n                    int
	out, heapOut, daemon string
	config               string
}

func newRoot(stdout io.Writer) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "edgecascade-bench [--n 200] [--out FILE] [--heap-profile FILE] [--daemon PATH]",
		Short: "Measure what the edgecascade daemon itself costs, side by side in one run",
		Long: `edgecascade-bench measures, in one run on this machine:
  1. a local question answered directly by Ollama's /api/chat vs. through the
     daemon (edgecascade serve, accepted locally): p50 and p95 latency and
     their ratio (needs the configured Ollama and local model);
  2. routing + scoring overhead per request with an in-memory stub local
     backend: the whole HTTP handler, µs/op, allocs/op;
  3. requests/s over loopback HTTP at concurrency 1, 8 and 64 (stub backend);
  4. resident memory of the idle daemon (with its binary in the page cache
     and evicted from it), where it goes by mapping and by package, its Go
     heap (--heap-profile saves the profile), and this process under load.
It prints a Markdown report (and writes it to --out). The daemon measured is
--daemon, by default the edgecascade binary next to this one, else the one
on PATH. Settings (--config, --local.url, ...) are read as edgecascade reads
them, and given to the daemon of section 1.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, config, err := configs.FindAndLoad(f.config, os.Getenv, configs.ChangedFlags(cmd.Flags()))
			if err != nil {
				return err
			}
			exe, err := daemonBinaryPath(f.daemon)
			if err != nil {
				return err
			}
			var rep strings.Builder
			fmt.Fprintf(&rep, "# edgecascade bench\n\n%s, %s/%s, %d CPUs, %s; `edgecascade-bench --n %d`\n\n",
				time.Now().UTC().Format(time.DateOnly), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), f.n)
			idle := rssMB()
			if err := benchDirectVsDaemon(cmd.Context(), &rep, cfg, exe, userArgs(cmd, config), f.n); err != nil {
				fmt.Fprintf(&rep, "## 1. Ollama direct vs. through the daemon\n\nskipped: %v\n\n", err)
			}
			benchOverhead(&rep)
			peak, err := benchThroughput(cmd.Context(), &rep)
			if err != nil {
				return err
			}
			benchMemory(cmd.Context(), &rep, cfg, exe, idle, peak, f.heapOut)
			fmt.Fprint(stdout, rep.String())
			if f.out != "" {
				return os.WriteFile(f.out, []byte(rep.String()), 0o644)
			}
			return nil
		},
	}
	cmd.SetOut(stdout)
	cmd.Flags().IntVar(&f.n, "n", 200, "requests per side for the latency comparison")
	cmd.Flags().StringVar(&f.out, "out", "", "also write the report to this file")
	cmd.Flags().StringVar(&f.heapOut, "heap-profile", "", "write the idle daemon's heap profile (pprof format) to this file")
	cmd.Flags().StringVar(&f.daemon, "daemon", "", "the edgecascade binary to measure (default: edgecascade next to this binary, else on PATH)")
	cmd.Flags().StringVar(&f.config, "config", "", "YAML config file (keys as in configs/default.yaml); default: "+
		strings.TrimPrefix(configs.SearchOrder, "--config, "))
	configs.AddFlags(cmd.Flags())
	return cmd
}

// daemonBinary is the edgecascade binary to measure: path when given, else
// edgecascade next to this executable, else edgecascade on PATH.
func daemonBinaryPath(path string) (string, error) {
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("--daemon: %w", err)
		}
		return filepath.Abs(path)
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "edgecascade")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath("edgecascade")
	if err != nil {
		return "", errors.New("no edgecascade binary next to this one or on PATH: build it (go build ./cmd/edgecascade) and pass --daemon PATH")
	}
	return filepath.Abs(p)
}

// userArgs are the settings given on this command line, as edgecascade
// flags: --config (the file in force) and every setting flag that was set
// (a list: the flag once per element).
func userArgs(cmd *cobra.Command, config string) []string {
	var args []string
	if config != "" {
		args = append(args, "--config", config)
	}
	configs.ChangedFlags(cmd.Flags()).VisitAll(func(fl *pflag.Flag) {
		for _, s := range configs.Settings {
			if s.Key != fl.Name {
				continue
			}
			if sv, ok := fl.Value.(pflag.SliceValue); ok {
				for _, v := range sv.GetSlice() {
					args = append(args, "--"+fl.Name+"="+v)
				}
				continue
			}
			args = append(args, "--"+fl.Name+"="+fl.Value.String())
		}
	})
	return args
}
