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

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "edgecascade:", err)
		os.Exit(1)
	}
}

// app carries what every subcommand shares.
type app struct {
	configPath string
	stdout     io.Writer
	stderr     io.Writer
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "edgecascade",
		Short:         "Answer with a small local LLM; call a cloud LLM only when the local answer is not good enough",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&a.configPath, "config", "", "YAML config file (keys as in configs/default.yaml)")
	root.AddCommand(a.serveCmd(), a.askCmd(), a.configCmd(), a.calibrateCmd(), a.evalCmd(), a.probeCmd(), a.logCmd(), a.doctorCmd())
	return root
}

// settingFlags adds a flag for each setting key, so `--cascade.threshold 0.4`
// overrides file and environment.
func settingFlags(fs *pflag.FlagSet) { configs.AddFlags(fs) }

// loadConfig loads the configuration; flags that were not set do not override.
func (a *app) loadConfig(cmd *cobra.Command) (*configs.Config, error) {
	return configs.Load(a.configPath, configs.ChangedFlags(cmd.Flags()))
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
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "configuration is valid\n\n%-24s %-36s %s\n", "KEY", "ENV", "DESCRIPTION")
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
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			src := "built-in defaults"
			if a.configPath != "" {
				src = a.configPath
			}
			fmt.Fprintf(a.stdout, "%s: configuration is valid (local %s %s, cloud %s %s, scorer %s)\n",
				src, cfg.Local.Backend, cfg.Local.Model, cfg.Cloud.Provider, cfg.Cloud.Model, cfg.Cascade.Scorer)
			return nil
		},
	}
	settingFlags(cmd.Flags())
	return cmd
}
