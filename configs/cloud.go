package configs

import (
	"fmt"
	"math"
	"os"
	"time"

	"github.com/edgecascade/edgecascade/agent/resources"
	"github.com/edgecascade/edgecascade/configs/secret"
)

// BreakerConfig configures the cloud's circuit breaker.
type BreakerConfig struct {
	Failures         int           `mapstructure:"failures"`
	ProbeInterval    time.Duration `mapstructure:"probe_interval"`
	MaxProbeInterval time.Duration `mapstructure:"max_probe_interval"`
}

// CloudConfig configures the cloud provider.
type CloudConfig struct {
	Provider   string        `mapstructure:"provider"`
	BaseURL    string        `mapstructure:"base_url"`
	Model      string        `mapstructure:"model"`
	APIKey     secret.Secret `mapstructure:"api_key"`
	Timeout    time.Duration `mapstructure:"timeout"`
	MaxRetries int           `mapstructure:"max_retries"`
	// CostInputPer1K and CostOutputPer1K price the provider's tokens.
	CostInputPer1K  float64          `mapstructure:"cost_input_per_1k"`
	CostOutputPer1K float64          `mapstructure:"cost_output_per_1k"`
	Providers       []ProviderConfig `mapstructure:"providers"`
	Breaker         BreakerConfig    `mapstructure:"breaker"`
}

// ProviderConfig is one provider of the cloud.providers list, tried when
// the ones before it fail. Its API key is read from the environment variable
// APIKeyEnv, never from a file.
type ProviderConfig struct {
	Provider        string        `mapstructure:"provider"`
	BaseURL         string        `mapstructure:"base_url"`
	Model           string        `mapstructure:"model"`
	APIKeyEnv       string        `mapstructure:"api_key_env"`
	Timeout         time.Duration `mapstructure:"timeout"`
	MaxRetries      int           `mapstructure:"max_retries"`
	CostInputPer1K  float64       `mapstructure:"cost_input_per_1k"`
	CostOutputPer1K float64       `mapstructure:"cost_output_per_1k"`
}

// CloudBaseURL is cloud.base_url, or the provider's own when it is empty.
func (c *Config) CloudBaseURL() string { return ProviderURL(c.Cloud.Provider, c.Cloud.BaseURL) }

// ProviderURL is baseURL, or the provider's own when it is empty.
func ProviderURL(provider, baseURL string) string {
	switch {
	case baseURL != "":
		return baseURL
	case provider == "anthropic":
		return "https://api.anthropic.com"
	default:
		return "https://api.openai.com/v1"
	}
}

// ProviderSpec is one cloud provider as the configuration resolves it: the
// one place that reads cloud.* and cloud.providers, so that serve, eval and
// doctor build, price and check the same providers.
type ProviderSpec struct {
	// Label names the provider's settings in messages: "cloud" for the
	// single provider, "cloud.providers[i]" for an entry of the list.
	Label    string
	Provider string // "openai" or "anthropic"
	// BaseURL is the configured base URL, "" for the provider's own; URL is
	// the one to call (ProviderURL).
	BaseURL, URL string
	Model        string
	APIKey       secret.Secret
	// KeyFrom says where the key is read from, for a message asking for it.
	KeyFrom    string
	Timeout    time.Duration
	MaxRetries int
	// CostInputPer1K and CostOutputPer1K price the provider's tokens.
	CostInputPer1K, CostOutputPer1K float64
}

// CloudProviders resolves the cloud providers in the order they are tried:
// the entries of cloud.providers (each key read from the environment
// variable its api_key_env names; its timeout defaulting to cloud.timeout),
// or, when the list is empty, the single provider of the cloud.* settings.
func (c *Config) CloudProviders() []ProviderSpec {
	cc := c.Cloud
	if len(cc.Providers) == 0 {
		env := "OPENAI_API_KEY"
		if cc.Provider == "anthropic" {
			env = "ANTHROPIC_API_KEY"
		}
		return []ProviderSpec{{
			Label: "cloud", Provider: cc.Provider, BaseURL: cc.BaseURL, URL: c.CloudBaseURL(), Model: cc.Model,
			APIKey: cc.APIKey, KeyFrom: EnvPrefix + "_CLOUD_API_KEY or " + env,
			Timeout: cc.Timeout, MaxRetries: cc.MaxRetries,
			CostInputPer1K: cc.CostInputPer1K, CostOutputPer1K: cc.CostOutputPer1K,
		}}
	}
	out := make([]ProviderSpec, len(cc.Providers))
	for i, p := range cc.Providers {
		s := ProviderSpec{
			Label: fmt.Sprintf("cloud.providers[%d]", i), Provider: p.Provider, BaseURL: p.BaseURL,
			URL: ProviderURL(p.Provider, p.BaseURL), Model: p.Model, Timeout: p.Timeout, MaxRetries: p.MaxRetries,
			CostInputPer1K: p.CostInputPer1K, CostOutputPer1K: p.CostOutputPer1K,
		}
		if s.Timeout == 0 {
			s.Timeout = cc.Timeout
		}
		if p.APIKeyEnv == "" {
			s.KeyFrom = "an environment variable named by its api_key_env"
		} else {
			s.APIKey, s.KeyFrom = secret.Secret(os.Getenv(p.APIKeyEnv)), p.APIKeyEnv
		}
		out[i] = s
	}
	return out
}

// validateOffline checks the breaker, budget and outbox settings.
func (c *Config) validateOffline(bad func(key, format string, args ...any) error) error {
	b := c.Cloud.Breaker
	switch {
	case b.Failures < 1:
		return bad("cloud.breaker.failures", "want at least 1, got %d", b.Failures)
	case b.ProbeInterval <= 0:
		return bad("cloud.breaker.probe_interval", "must be positive")
	case b.MaxProbeInterval < b.ProbeInterval:
		return bad("cloud.breaker.max_probe_interval", "must be at least cloud.breaker.probe_interval (%s)", b.ProbeInterval)
	}
	for key, v := range map[string]float64{
		"budget.calls_per_day": float64(c.Budget.CallsPerDay), "budget.calls_per_month": float64(c.Budget.CallsPerMonth),
		"budget.tokens_per_day": float64(c.Budget.TokensPerDay), "budget.tokens_per_month": float64(c.Budget.TokensPerMonth),
		"budget.cost_per_day": c.Budget.CostPerDay, "budget.cost_per_month": c.Budget.CostPerMonth,
	} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return bad(key, "must be 0 (no cap) or positive, got %v", v)
		}
	}
	if c.Resources.Interval < 0 {
		return bad("resources.interval", "must not be negative")
	}
	if err := resources.ValidateRules(c.Resources.Rules); err != nil {
		return bad("resources.rules", "%v", err)
	}
	if r := c.Outbox.DrainRate; !(r > 0) || math.IsInf(r, 0) || r > 1000 {
		return bad("outbox.drain_rate", "want items per second in (0, 1000], got %v", r)
	}
	if c.Outbox.Retention <= 0 {
		return bad("outbox.retention", "must be positive")
	}
	if c.Outbox.MaxItems < 1 {
		return bad("outbox.max_items", "must be at least 1")
	}
	if c.Outbox.MaxAge <= 0 {
		return bad("outbox.max_age", "must be positive")
	}
	return nil
}
