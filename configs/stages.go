package configs

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/edgecascade/edgecascade/configs/secret"
)

// StageConfig is one stage of cascade.stages: a local stage (backend and
// model, with its own scorer and threshold) or, last, the cloud stage
// (provider). The two-stage shorthand (local.*, cloud.*) is what an empty
// list means.
type StageConfig struct {
	Name string `mapstructure:"name"`
	// A local stage: its backend, URL (empty: local.url) and model, its
	// scorer (empty: cascade.scorer) and threshold (unset: cascade.threshold;
	// a calibration file's entry for the stage replaces it).
	Backend   string   `mapstructure:"backend"`
	URL       string   `mapstructure:"url"`
	Model     string   `mapstructure:"model"`
	Scorer    string   `mapstructure:"scorer"`
	Threshold *float64 `mapstructure:"threshold"`
	// The cloud stage: provider openai or anthropic with its model,
	// base_url, api_key_env and prices; or provider cloud, the cloud.*
	// settings as they are (a chain with cloud.providers).
	Provider        string  `mapstructure:"provider"`
	BaseURL         string  `mapstructure:"base_url"`
	APIKeyEnv       string  `mapstructure:"api_key_env"`
	CostInputPer1K  float64 `mapstructure:"cost_input_per_1k"`
	CostOutputPer1K float64 `mapstructure:"cost_output_per_1k"`
	// EnergyJ estimates the joules of one answer of the stage, for
	// calibrate's energy objective where none is measured.
	EnergyJ float64 `mapstructure:"energy_j"`
}

// Local reports whether the stage is a local one.
func (s StageConfig) Local() bool { return s.Provider == "" }

// ProviderCloud is a cloud stage's provider that means the cloud.*
// settings as they are.
const ProviderCloud = "cloud"

var stageName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// decodeStages reads cascade.stages strictly: an unknown key in an entry
// is an error naming it.
func decodeStages(v *viper.Viper) ([]StageConfig, error) {
	var out []StageConfig
	err := v.UnmarshalKey("cascade.stages", &out, func(dc *mapstructure.DecoderConfig) { dc.ErrorUnused = true })
	if err != nil {
		return nil, &KeyError{Key: "cascade.stages", Reason: err.Error()}
	}
	return out, nil
}

// applyStages checks cascade.stages and writes its first local stage into
// local.* and cascade.scorer/threshold and its cloud stage into cloud.*,
// so that the two-stage settings always describe the first local stage and
// the cloud; the local stages after the first are LaterStages.
func (c *Config) applyStages() error {
	st := c.Cascade.Stages
	if len(st) == 0 {
		return nil
	}
	bad := func(i int, format string, args ...any) error {
		key := fmt.Sprintf("cascade.stages[%d]", i)
		if i < len(st) && st[i].Name != "" {
			key += " (" + st[i].Name + ")"
		}
		return &KeyError{Key: key, Reason: fmt.Sprintf(format, args...), unknown: true}
	}
	if len(st) < 2 {
		return &KeyError{Key: "cascade.stages", Reason: "want at least two stages: local stages, then the cloud", unknown: true}
	}
	seen := map[string]bool{}
	for i, s := range st {
		switch {
		case !stageName.MatchString(s.Name):
			return bad(i, "name: want letters, digits, '.', '_' or '-', got %q", s.Name)
		case seen[s.Name]:
			return bad(i, "name %q is used by an earlier stage", s.Name)
		case s.Backend != "" && s.Provider != "":
			return bad(i, "set backend (a local stage) or provider (the cloud stage), not both")
		case s.Backend == "" && s.Provider == "":
			return bad(i, "set backend (a local stage: %s) or provider (the cloud stage)", orList("local.backend"))
		case !s.Local() && i != len(st)-1:
			return bad(i, "the cloud stage must be the last: it always accepts, so no stage after it would ever answer")
		case s.Local() && i == len(st)-1:
			return bad(i, "the last stage must be the cloud (provider openai, anthropic or cloud)")
		case s.EnergyJ < 0 || math.IsNaN(s.EnergyJ):
			return bad(i, "energy_j must be 0 or more")
		}
		seen[s.Name] = true
		if s.Local() {
			if err := c.checkLocalStage(i, s, bad); err != nil {
				return err
			}
		} else if err := c.applyCloudStage(i, s, bad); err != nil {
			return err
		}
	}
	first := st[0]
	c.Local.Backend, c.Local.Model = first.Backend, first.Model
	if first.URL != "" {
		c.Local.URL = first.URL
	}
	if first.Scorer != "" {
		c.Cascade.Scorer = first.Scorer
	}
	if first.Threshold != nil {
		c.Cascade.Threshold = *first.Threshold
	}
	return nil
}

func (c *Config) checkLocalStage(i int, s StageConfig, bad func(int, string, ...any) error) error {
	switch {
	case s.Name == RouteCloudName:
		return bad(i, "a local stage cannot be named %q", s.Name)
	case !oneOf("local.backend", s.Backend):
		return bad(i, "backend: want %s, got %q", orList("local.backend"), s.Backend)
	case strings.TrimSpace(s.Model) == "":
		return bad(i, "model must not be empty")
	case s.URL != "" && checkURL(s.URL) != nil:
		return bad(i, "url: %v", checkURL(s.URL))
	case s.Threshold != nil && (math.IsNaN(*s.Threshold) || math.IsInf(*s.Threshold, 0) || *s.Threshold < 0):
		return bad(i, "threshold: want a number >= 0, got %v", *s.Threshold)
	case s.BaseURL != "" || s.APIKeyEnv != "" || s.CostInputPer1K != 0 || s.CostOutputPer1K != 0:
		return bad(i, "base_url, api_key_env and prices belong to the cloud stage")
	}
	if s.Scorer != "" && !oneOf("cascade.scorer", s.Scorer) {
		return bad(i, "scorer: want %s, got %q", orList("cascade.scorer"), s.Scorer)
	}
	if i > 0 && (s.Scorer == "probe" || s.Scorer == "combined") {
		return bad(i, "scorer %s is fitted to the first local model; stages after the first take mean_logprob, min_logprob, entropy or selfref", s.Scorer)
	}
	if i > 0 && s.Backend == BackendLlamaCpp {
		return bad(i, "backend llamacpp (in-process) is only for the first local stage; serve this model with ollama or llamacpp-server")
	}
	return nil
}

// RouteCloudName and RouteLocalName are the routes of the two-stage
// shorthand; a stage may not take the other kind's name.
const (
	RouteCloudName = "cloud"
	RouteLocalName = "local"
)

func (c *Config) applyCloudStage(i int, s StageConfig, bad func(int, string, ...any) error) error {
	switch {
	case s.Name == RouteLocalName:
		return bad(i, "the cloud stage cannot be named %q", s.Name)
	case s.Backend != "" || s.URL != "" || s.Scorer != "" || s.Threshold != nil:
		return bad(i, "backend, url, scorer and threshold belong to local stages: the cloud stage always accepts")
	case s.Provider == ProviderCloud:
		if s.Model != "" || s.BaseURL != "" || s.APIKeyEnv != "" || s.CostInputPer1K != 0 || s.CostOutputPer1K != 0 {
			return bad(i, "provider cloud takes the cloud.* settings as they are; set the model, base_url, key and prices there")
		}
		return nil
	case !oneOf("cloud.provider", s.Provider):
		return bad(i, "provider: want %s or cloud (the cloud.* settings), got %q", orList("cloud.provider"), s.Provider)
	case strings.TrimSpace(s.Model) == "":
		return bad(i, "model must not be empty")
	case s.BaseURL != "" && checkURL(s.BaseURL) != nil:
		return bad(i, "base_url: %v", checkURL(s.BaseURL))
	case s.CostInputPer1K < 0 || s.CostOutputPer1K < 0:
		return bad(i, "prices must be >= 0")
	}
	c.Cloud.Provider, c.Cloud.Model, c.Cloud.BaseURL, c.Cloud.Providers = s.Provider, s.Model, s.BaseURL, nil
	c.Cloud.CostInputPer1K, c.Cloud.CostOutputPer1K = s.CostInputPer1K, s.CostOutputPer1K
	if s.APIKeyEnv != "" {
		c.Cloud.APIKey = secret.Secret(os.Getenv(s.APIKeyEnv))
	}
	return nil
}

// LaterStages are the local stages after the first (cascade.stages), each
// with its URL and scorer resolved; none with the two-stage shorthand.
func (c *Config) LaterStages() []StageConfig {
	var out []StageConfig
	for i, s := range c.Cascade.Stages {
		if i == 0 || !s.Local() {
			continue
		}
		if s.URL == "" {
			s.URL = c.Local.URL
		}
		if s.Scorer == "" {
			s.Scorer = c.Cascade.Scorer
		}
		out = append(out, s)
	}
	return out
}

// StageNames names the first local stage and the cloud stage: "local" and
// "cloud" with the two-stage shorthand.
func (c *Config) StageNames() (local, cloud string) {
	if len(c.Cascade.Stages) == 0 {
		return RouteLocalName, RouteCloudName
	}
	return c.Cascade.Stages[0].Name, c.Cascade.Stages[len(c.Cascade.Stages)-1].Name
}

// StageEnergy is each stage's configured energy estimate (joules an
// answer), in order; nil with the two-stage shorthand.
func (c *Config) StageEnergy() []float64 {
	if len(c.Cascade.Stages) == 0 {
		return nil
	}
	return slices.Collect(func(yield func(float64) bool) {
		for _, s := range c.Cascade.Stages {
			if !yield(s.EnergyJ) {
				return
			}
		}
	})
}
