// Command edgecascade is the daemon and its tools: serve the cascade on a
// local OpenAI-compatible endpoint, ask it a question from a terminal.
package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/cloud/anthropic"
	"github.com/edgecascade/edgecascade/cloud/openai"
	"github.com/edgecascade/edgecascade/configs"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/llamacpp"
	"github.com/edgecascade/edgecascade/models/ollama"
)

// version is set at build time with -ldflags "-X main.version=...";
// without it, main takes it from the module's build info (buildVersion).
var version = "dev"

func main() {
	version = buildVersion(version, debug.ReadBuildInfo)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "edgecascade:", err)
		os.Exit(1)
	}
}

// buildVersion is the version --version prints: set, the one given with
// -ldflags; left at "dev", the main module's version from the build info
// (a tagged `go install ...@v1.2.3`), with the VCS revision and a
// "+dirty" mark when the build recorded them (a build in a checkout).
func buildVersion(set string, info func() (*debug.BuildInfo, bool)) string {
	if set != "dev" {
		return set
	}
	bi, ok := info()
	if !ok {
		return set
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = set
	}
	var rev string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" || strings.Contains(v, rev[:min(12, len(rev))]) {
		return v // a pseudo-version already names its revision
	}
	v += " (" + rev
	if modified {
		v += "+dirty"
	}
	return v + ")"
}

// app carries what every subcommand shares.
type app struct {
	configPath string
	// getenv reads the environment (os.Getenv), for the config file search.
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr, getenv: os.Getenv}
	root := &cobra.Command{
		Use:           "edgecascade",
		Short:         "Answer with a small local LLM; call a cloud LLM only when the local answer is not good enough",
		Version:       buildVersion(version, debug.ReadBuildInfo),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&a.configPath, "config", "", "YAML config file (keys as in configs/default.yaml); default: "+
		strings.TrimPrefix(configs.SearchOrder, "--config, "))
	root.AddCommand(a.serveCmd(), a.askCmd(), a.configCmd(), a.calibrateCmd(), a.evalCmd(), a.probeCmd(), a.logCmd(), a.doctorCmd(), a.adaptCmd(), a.replayCmd())
	completeChoices(root)
	return root
}

// settingFlags adds a flag for each setting key, so `--cascade.threshold 0.4`
// overrides file and environment.
func settingFlags(fs *pflag.FlagSet) { configs.AddFlags(fs) }

// completeChoices makes shell completion offer the allowed values of the
// settings that take one of a fixed list (configs.Choices), on every
// command of the tree that has their flags.
func completeChoices(cmd *cobra.Command) {
	for _, s := range configs.Settings {
		vals := configs.Choices(s.Key)
		if vals == nil || cmd.Flags().Lookup(s.Key) == nil {
			continue
		}
		complete := func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
			var out []string
			for _, v := range vals {
				if strings.HasPrefix(v, prefix) {
					out = append(out, v)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		if err := cmd.RegisterFlagCompletionFunc(s.Key, complete); err != nil {
			panic(fmt.Sprintf("completion of --%s: %v", s.Key, err)) // registered twice: a defect
		}
	}
	for _, c := range cmd.Commands() {
		completeChoices(c)
	}
}

// loadConfig loads the configuration; flags that were not set do not override.
func (a *app) loadConfig(cmd *cobra.Command) (*configs.Config, error) {
	cfg, _, err := a.loadConfigFrom(cmd)
	return cfg, err
}

// loadConfigFrom is loadConfig that also says where the configuration came
// from: the config file in force (configs.Find), or "built-in defaults".
func (a *app) loadConfigFrom(cmd *cobra.Command) (*configs.Config, string, error) {
	cfg, path, err := configs.FindAndLoad(a.configPath, a.getenv, configs.ChangedFlags(cmd.Flags()))
	return cfg, cmp.Or(path, "built-in defaults"), err
}

func newLogger(w io.Writer, cfg *configs.Config) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: cfg.SlogLevel()}))
}

// newLocal connects (or, for the in-process engine, loads) the local model.
// A model that holds resources is an io.Closer; deps.close closes it.
func newLocal(ctx context.Context, cfg *configs.Config) (models.Model, error) {
	switch cfg.Local.Backend {
	case configs.BackendOllama:
		return ollama.New(ollama.Config{URL: cfg.Local.URL, Model: cfg.Local.Model, Timeout: cfg.Local.Timeout})
	case configs.BackendLlamaServer:
		return llamacpp.New(llamacpp.Config{URL: cfg.Local.URL, Model: cfg.Local.Model, Timeout: cfg.Local.Timeout})
	case configs.BackendLlamaCpp:
		return openEngine(ctx, cfg) // local_engine.go or local_noengine.go, by build tag
	default:
		return nil, fmt.Errorf("local.backend %q is not supported", cfg.Local.Backend)
	}
}

// newCloud builds the cloud: the providers configs resolves
// (Config.CloudProviders), in order, each with its per-1K-token prices.
func newCloud(cfg *configs.Config) (cloud.Provider, error) {
	var entries []cloud.Entry
	for _, s := range cfg.CloudProviders() {
		p, err := newProvider(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Label, err)
		}
		entries = append(entries, cloud.Entry{Provider: p, Price: price(s)})
	}
	return cloud.NewChain(entries...)
}

// newProvider builds the client of one resolved provider; doctor builds
// its clients with it too.
func newProvider(s configs.ProviderSpec) (cloud.Provider, error) {
	switch s.Provider {
	case "openai":
		return openai.New(openai.Config{BaseURL: s.URL, Model: s.Model, APIKey: s.APIKey.Reveal(), Timeout: s.Timeout, MaxRetries: s.MaxRetries})
	case "anthropic":
		return anthropic.New(anthropic.Config{BaseURL: s.URL, Model: s.Model, APIKey: s.APIKey.Reveal(), Timeout: s.Timeout, MaxRetries: s.MaxRetries})
	default:
		return nil, fmt.Errorf("cloud provider %q is not supported (openai, anthropic)", s.Provider)
	}
}

// price is a provider's per-1K-token prices.
func price(s configs.ProviderSpec) cloud.Price {
	return cloud.Price{InputPer1K: s.CostInputPer1K, OutputPer1K: s.CostOutputPer1K}
}

func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Validate the configuration and print the settings in force",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, src, err := a.loadConfigFrom(cmd)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "configuration is valid\nconfig file: %s\n\n%-24s %-36s %s\n", src, "KEY", "ENV", "DESCRIPTION")
			for _, s := range configs.Settings {
				fmt.Fprintf(a.stdout, "%-24s %-36s %s\n", s.Key, s.Env(), s.Description)
			}
			fmt.Fprintf(a.stdout, "\nlocal: %s %s at %s; cloud: %s %s at %s; scorer %s, threshold %v\n",
				cfg.Local.Backend, cfg.Local.Model, cmp.Or(cfg.LocalURL(), "in-process"), cfg.Cloud.Provider, cfg.Cloud.Model, cfg.CloudBaseURL(),
				cfg.Cascade.Scorer, cfg.Cascade.Threshold)
			return nil
		},
	}
	settingFlags(cmd.Flags())
	cmd.AddCommand(a.configValidateCmd())
	return cmd
}

// configValidateCmd validates the configuration (defaults, --config file,
// environment, flags) and prints one line; it exits non-zero naming the bad
// key. It reads no files the configuration names and contacts nothing: see
// doctor for that.
func (a *app) configValidateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Validate the configuration only (no network, no files it names): exit status 0 when valid",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, src, err := a.loadConfigFrom(cmd)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: configuration is valid (local %s %s, cloud %s %s, scorer %s)\n",
				src, cfg.Local.Backend, cfg.Local.Model, cfg.Cloud.Provider, cfg.Cloud.Model, cfg.Cascade.Scorer)
			return nil
		},
	}
	settingFlags(cmd.Flags())
	return cmd
}
