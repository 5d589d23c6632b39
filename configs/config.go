// Package configs holds edgecascade's settings: the embedded defaults
// (default.yaml), loading with viper (file, then EDGECASCADE_* environment,
// then flags) and validation that names the bad key.
package configs

import (
	"bytes"
	_ "embed"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/edgecascade/edgecascade/agent/resources"
	"github.com/edgecascade/edgecascade/configs/secret"
	"github.com/edgecascade/edgecascade/models/chattemplate"
	"github.com/edgecascade/edgecascade/uq"
)

//go:embed default.yaml
var defaultYAML []byte

// EnvPrefix prefixes every environment variable.
const EnvPrefix = "EDGECASCADE"

// Config is the whole configuration.
type Config struct {
	Listen    string          `mapstructure:"listen"`
	Local     LocalConfig     `mapstructure:"local"`
	Cloud     CloudConfig     `mapstructure:"cloud"`
	Cascade   CascadeConfig   `mapstructure:"cascade"`
	UQ        UQConfig        `mapstructure:"uq"`
	Probe     ProbeConfig     `mapstructure:"probe"`
	Server    ServerConfig    `mapstructure:"server"`
	DataDir   string          `mapstructure:"data_dir"`
	Log       LogConfig       `mapstructure:"log"`
	Offline   bool            `mapstructure:"offline"`
	Budget    BudgetConfig    `mapstructure:"budget"`
	Outbox    OutboxConfig    `mapstructure:"outbox"`
	Resources ResourcesConfig `mapstructure:"resources"`
	Adapt     AdaptConfig     `mapstructure:"adapt"`
}

// AdaptConfig configures learning from deployment (docs/adaptation.md).
type AdaptConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// Target is the accepted answers' accuracy to keep; 0: the
	// calibration file's target, else 0.9. Confidence is the bound's.
	Target     float64 `mapstructure:"target"`
	Confidence float64 `mapstructure:"confidence"`
	Window     int     `mapstructure:"window"`
	// ExploreRate is the share of accepted local answers also sent to the
	// cloud in the background to label them.
	ExploreRate float64 `mapstructure:"explore_rate"`
	// Agreement is how an escalated local answer is compared with the
	// cloud's: exact, normalized, numeric or judge.
	Agreement string `mapstructure:"agreement"`
	// CloudAccuracy is how often the labelling cloud is right (1: assume
	// always): agreement and exploration labels are corrected by it.
	CloudAccuracy  float64 `mapstructure:"cloud_accuracy"`
	MinLabels      int     `mapstructure:"min_labels"`
	GroupMinLabels int     `mapstructure:"group_min_labels"`
}

// ResourcesConfig configures the power- and heat-aware rules.
type ResourcesConfig struct {
	Enabled   bool             `mapstructure:"enabled"`
	SysfsRoot string           `mapstructure:"sysfs_root"`
	Interval  time.Duration    `mapstructure:"interval"`
	Energy    bool             `mapstructure:"energy"`
	Rules     []resources.Rule `mapstructure:"rules"`
}

// BudgetConfig caps cloud use; 0 means no cap.
type BudgetConfig struct {
	CallsPerDay    int     `mapstructure:"calls_per_day"`
	CallsPerMonth  int     `mapstructure:"calls_per_month"`
	TokensPerDay   int     `mapstructure:"tokens_per_day"`
	TokensPerMonth int     `mapstructure:"tokens_per_month"`
	CostPerDay     float64 `mapstructure:"cost_per_day"`
	CostPerMonth   float64 `mapstructure:"cost_per_month"`
}

// OutboxConfig configures deferred escalations.
type OutboxConfig struct {
	Enabled   bool          `mapstructure:"enabled"`
	DrainRate float64       `mapstructure:"drain_rate"`
	Retention time.Duration `mapstructure:"retention"`
	// MaxItems caps the items waiting to be sent; MaxAge is how long a
	// queued item may wait before it fails as expired.
	MaxItems int           `mapstructure:"max_items"`
	MaxAge   time.Duration `mapstructure:"max_age"`
}

// LocalConfig configures the local model backend.
type LocalConfig struct {
	Backend     string        `mapstructure:"backend"`
	URL         string        `mapstructure:"url"`
	Model       string        `mapstructure:"model"`
	Timeout     time.Duration `mapstructure:"timeout"`
	TopLogprobs int           `mapstructure:"top_logprobs"`
	Tokenizer   string        `mapstructure:"tokenizer"`
	// MaxConcurrent and MaxQueue bound the calls on the local model: that
	// many run at once, that many more wait, the rest are refused at once.
	MaxConcurrent int `mapstructure:"max_concurrent"`
	MaxQueue      int `mapstructure:"max_queue"`
	// ChatTemplate is the in-process engine's chat template (backend
	// llamacpp): a known name or a Go text/template; empty: detected from
	// the GGUF's own template.
	ChatTemplate string `mapstructure:"chat_template"`
	// EmbedModel is the backend's model for embeddings (/v1/embeddings,
	// /api/embed, /api/embeddings); empty: Model.
	EmbedModel string `mapstructure:"embed_model"`
}

// Local backends (local.backend).
const (
	BackendOllama      = "ollama"
	BackendLlamaServer = "llamacpp-server"
	BackendLlamaCpp    = "llamacpp"
)

// CascadeConfig configures the routing decision.
type CascadeConfig struct {
	Scorer      string  `mapstructure:"scorer"`
	Threshold   float64 `mapstructure:"threshold"`
	Calibration string  `mapstructure:"calibration"`
	// Stages, when set, are the cascade's stages in order (stages.go).
	Stages []StageConfig `mapstructure:"stages"`
}

// UQConfig configures the scorers.
type UQConfig struct {
	SelfRef        SelfRefConfig `mapstructure:"selfref"`
	FallbackScorer string        `mapstructure:"fallback_scorer"`
}

// SelfRefConfig configures the Self-REF confidence-token scorer.
type SelfRefConfig struct {
	Tokens []string `mapstructure:"tokens"`
}

// ProbeConfig configures hidden-state probes.
type ProbeConfig struct {
	Path            string  `mapstructure:"path"`
	ONNXRuntimeLib  string  `mapstructure:"onnxruntime_lib"`
	PregenPath      string  `mapstructure:"pregen_path"`
	PregenThreshold float64 `mapstructure:"pregen_threshold"`
}

// ServerConfig configures the HTTP API.
type ServerConfig struct {
	MaxBodyBytes    int64         `mapstructure:"max_body_bytes"`
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// BodyTimeout bounds reading one request body (after its headers).
	BodyTimeout time.Duration `mapstructure:"body_timeout"`
	// IdleTimeout closes a keep-alive connection idle this long.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// MaxConnections caps the connections served at once.
	MaxConnections int `mapstructure:"max_connections"`
	// AuthToken, when set, is the bearer token every request must carry.
	AuthToken secret.Secret `mapstructure:"auth_token"`
	// AuthTokenFile holds the token instead (read once at load).
	AuthTokenFile string `mapstructure:"auth_token_file"`
	// AllowInsecureBind allows a non-loopback listen address without a token.
	AllowInsecureBind bool `mapstructure:"allow_insecure_bind"`
	// CORSOrigins are the exact browser origins allowed to call the API.
	CORSOrigins []string `mapstructure:"cors_origins"`
	// AllowedHosts are Host header names accepted besides loopback ones.
	AllowedHosts []string `mapstructure:"allowed_hosts"`
	// Pprof serves Go's runtime profiles under /debug/pprof/ (loopback
	// listen addresses only).
	Pprof bool `mapstructure:"pprof"`
}

// LogConfig configures logging.
type LogConfig struct {
	Level     string `mapstructure:"level"`
	Decisions bool   `mapstructure:"decisions"`
	Content   bool   `mapstructure:"content"`
	// Retention and MaxEntries bound the decision log.
	Retention  time.Duration `mapstructure:"retention"`
	MaxEntries int           `mapstructure:"max_entries"`
}

// Default returns the built-in defaults.
func Default() *Config {
	c, err := Load("", nil)
	if err != nil {
		panic(fmt.Sprintf("configs: embedded defaults are invalid: %v", err)) // a build defect, caught by tests
	}
	return c
}

// Load reads the defaults, then the YAML file at path (when not empty), then
// EDGECASCADE_* environment variables, then the flags in fs whose names are
// setting keys (when fs is not nil), and validates the result.
func Load(path string, fs *pflag.FlagSet) (*Config, error) {
	if path == "" {
		return load(nil, "", fs)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return load(b, path, fs)
}

// load is Load of the YAML file contents file (named name; none when nil).
func load(file []byte, name string, fs *pflag.FlagSet) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(defaultYAML)); err != nil {
		return nil, fmt.Errorf("read defaults: %w", err)
	}
	if file != nil {
		if err := v.MergeConfig(bytes.NewReader(file)); err != nil {
			return nil, fmt.Errorf("parse config %s: %w", name, err)
		}
		if err := checkKnownKeys(v); err != nil {
			return nil, fmt.Errorf("config %s: %w", name, err)
		}
	}
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if fs != nil {
		for _, s := range Settings {
			if f := fs.Lookup(s.Key); f != nil {
				if err := v.BindPFlag(s.Key, f); err != nil {
					return nil, fmt.Errorf("bind flag %s: %w", s.Key, err)
				}
			}
		}
	}
	var c Config
	if err := v.Unmarshal(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	stages, err := decodeStages(v)
	if err != nil {
		return nil, err
	}
	c.Cascade.Stages = stages
	if err := c.applyStages(); err != nil {
		return nil, err
	}
	if c.Cloud.APIKey == "" {
		env := "OPENAI_API_KEY"
		if c.Cloud.Provider == "anthropic" {
			env = "ANTHROPIC_API_KEY"
		}
		c.Cloud.APIKey = secret.Secret(os.Getenv(env))
	}
	if err := c.loadAuthToken(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// loadAuthToken reads server.auth_token_file into server.auth_token.
func (c *Config) loadAuthToken() error {
	if c.Server.AuthTokenFile == "" {
		return nil
	}
	if c.Server.AuthToken != "" {
		return &KeyError{Key: "server.auth_token_file", Reason: "set server.auth_token or server.auth_token_file, not both"}
	}
	b, err := os.ReadFile(c.Server.AuthTokenFile)
	if err != nil {
		return &KeyError{Key: "server.auth_token_file", Reason: fmt.Sprintf("read the token: %v", err)}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	c.Server.AuthToken = secret.Secret(strings.TrimSpace(line))
	if c.Server.AuthToken == "" {
		return &KeyError{Key: "server.auth_token_file", Reason: fmt.Sprintf("%s is empty", c.Server.AuthTokenFile)}
	}
	return nil
}

func checkKnownKeys(v *viper.Viper) error {
	known := make(map[string]bool, len(Settings))
	for _, s := range Settings {
		known[s.Key] = true
	}
	for _, k := range v.AllKeys() {
		if !known[k] {
			if k == "" {
				k = `""` // an empty name
			}
			return &KeyError{Key: k, Reason: "unknown setting", unknown: true}
		}
	}
	return nil
}

// KeyError names the setting that is wrong.
type KeyError struct {
	Key    string
	Reason string
	// unknown marks a key that is not a setting.
	unknown bool
}

func (e *KeyError) Error() string {
	if e.unknown { // no environment variable reads it
		return fmt.Sprintf("setting %s: %s", e.Key, e.Reason)
	}
	return fmt.Sprintf("setting %s (env %s): %s", e.Key, Setting{Key: e.Key}.Env(), e.Reason)
}

// loopback reports whether the host of a host:port listen address is a
// loopback address or localhost (an empty host listens on every interface).
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Validate checks every setting and returns a *KeyError for the first bad one.
func (c *Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return &KeyError{Key: key, Reason: fmt.Sprintf(format, args...)}
	}
	if err := c.validateOffline(bad); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "want host:port, got %q", c.Listen)
	}
	if err := c.validateLocal(); err != nil {
		return err
	}
	if err := c.validateAdapt(bad); err != nil {
		return err
	}
	if c.Local.Timeout < 0 {
		return bad("local.timeout", "must not be negative")
	}
	if c.Local.TopLogprobs < 0 || c.Local.TopLogprobs > 20 {
		return bad("local.top_logprobs", "want 0-20, got %d", c.Local.TopLogprobs)
	}
	if c.Local.MaxConcurrent < 1 {
		return bad("local.max_concurrent", "want at least 1, got %d", c.Local.MaxConcurrent)
	}
	if c.Local.MaxQueue < 0 {
		return bad("local.max_queue", "want 0 or more, got %d", c.Local.MaxQueue)
	}
	if !oneOf("cloud.provider", c.Cloud.Provider) {
		return bad("cloud.provider", "want %s, got %q", orList("cloud.provider"), c.Cloud.Provider)
	}
	if c.Cloud.BaseURL != "" {
		if err := checkURL(c.Cloud.BaseURL); err != nil {
			return bad("cloud.base_url", "%v", err)
		}
	}
	if strings.TrimSpace(c.Cloud.Model) == "" {
		return bad("cloud.model", "must not be empty")
	}
	if c.Cloud.Timeout <= 0 {
		return bad("cloud.timeout", "must be positive")
	}
	if c.Cloud.MaxRetries < 0 || c.Cloud.MaxRetries > 10 {
		return bad("cloud.max_retries", "want 0-10, got %d", c.Cloud.MaxRetries)
	}
	if c.Cloud.CostInputPer1K < 0 || c.Cloud.CostOutputPer1K < 0 || math.IsNaN(c.Cloud.CostInputPer1K+c.Cloud.CostOutputPer1K) {
		return bad("cloud.cost_input_per_1k", "prices must be >= 0")
	}
	for i, f := range c.Cloud.Providers {
		key := fmt.Sprintf("cloud.providers[%d]", i)
		switch {
		case !oneOf("cloud.provider", f.Provider):
			return bad(key, "provider: want %s, got %q", orList("cloud.provider"), f.Provider)
		case strings.TrimSpace(f.Model) == "":
			return bad(key, "model must not be empty")
		case f.BaseURL != "" && checkURL(f.BaseURL) != nil:
			return bad(key, "base_url: %v", checkURL(f.BaseURL))
		case f.Timeout < 0 || f.MaxRetries < 0 || f.MaxRetries > 10:
			return bad(key, "timeout must be >= 0 and max_retries 0-10")
		case f.CostInputPer1K < 0 || f.CostOutputPer1K < 0:
			return bad(key, "prices must be >= 0")
		}
	}
	switch c.Cascade.Scorer {
	case "probe":
		if c.Probe.Path == "" {
			return bad("probe.path", "cascade.scorer probe needs a probe file (edgecascade probe train)")
		}
	case "combined":
		if c.Cascade.Calibration == "" {
			return bad("cascade.calibration", "cascade.scorer combined needs a calibration file (edgecascade calibrate fits the combination)")
		}
	default:
		if !oneOf("cascade.scorer", c.Cascade.Scorer) {
			return bad("cascade.scorer", "want %s, got %q", orList("cascade.scorer"), c.Cascade.Scorer)
		}
	}
	if (c.Probe.Path != "" || c.Probe.PregenPath != "") && c.Probe.ONNXRuntimeLib == "" {
		return bad("probe.onnxruntime_lib", "probes need onnxruntime: set the path of libonnxruntime.so.1 (scripts/install-onnxruntime.sh prints it)")
	}
	if pt := c.Probe.PregenThreshold; math.IsNaN(pt) || pt > 1 || (pt < 0 && pt != -1) {
		return bad("probe.pregen_threshold", "want -1 (use the probe file's) or a probability in [0, 1], got %v", pt)
	}
	if len(c.UQ.SelfRef.Tokens) != 2 || c.UQ.SelfRef.Tokens[0] == "" || c.UQ.SelfRef.Tokens[1] == "" || c.UQ.SelfRef.Tokens[0] == c.UQ.SelfRef.Tokens[1] {
		return bad("uq.selfref.tokens", "want two different non-empty tokens, got %q", c.UQ.SelfRef.Tokens)
	}
	if !oneOf("uq.fallback_scorer", c.UQ.FallbackScorer) {
		return bad("uq.fallback_scorer", "want %s, got %q", orList("uq.fallback_scorer"), c.UQ.FallbackScorer)
	}
	// entropy renormalizes each position over the alternatives the model
	// returned: with one alternative (the chosen token) every position is
	// certain and every answer scores 1.0. With 0 it reads the chosen
	// token's own probability, with 2 or more a real distribution.
	if c.Local.TopLogprobs == 1 {
		switch {
		case c.Cascade.Scorer == "entropy":
			return bad("local.top_logprobs", "cascade.scorer entropy needs local.top_logprobs 0 or at least 2: with 1 alternative per token it scores every answer 1.0")
		case c.Cascade.Scorer == "selfref" && c.UQ.FallbackScorer == "entropy":
			return bad("local.top_logprobs", "uq.fallback_scorer entropy (cascade.scorer selfref) needs local.top_logprobs 0 or at least 2: with 1 alternative per token it scores every answer 1.0")
		}
	}
	if math.IsNaN(c.Cascade.Threshold) || math.IsInf(c.Cascade.Threshold, 0) || c.Cascade.Threshold < 0 {
		return bad("cascade.threshold", "want a number >= 0 (scores are in [0, 1]; above 1 escalates everything), got %v", c.Cascade.Threshold)
	}
	if c.Server.MaxBodyBytes <= 0 {
		return bad("server.max_body_bytes", "must be positive")
	}
	if c.Server.ShutdownTimeout <= 0 {
		return bad("server.shutdown_timeout", "must be positive")
	}
	if c.Server.BodyTimeout <= 0 {
		return bad("server.body_timeout", "must be positive")
	}
	if c.Server.IdleTimeout <= 0 {
		return bad("server.idle_timeout", "must be positive")
	}
	if c.Server.MaxConnections < 1 {
		return bad("server.max_connections", "must be at least 1")
	}
	if err := c.validateSecurity(); err != nil {
		return err
	}
	if c.Server.Pprof && !loopback(c.Listen) {
		return bad("server.pprof", "profiles are served only on a loopback listen address (127.0.0.1, ::1, localhost), but listen is %q", c.Listen)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.Log.Level)); err != nil {
		return bad("log.level", "want %s, got %q", orList("log.level"), c.Log.Level)
	}
	if c.Log.Retention <= 0 {
		return bad("log.retention", "must be positive")
	}
	if c.Log.MaxEntries < 1 {
		return bad("log.max_entries", "must be at least 1")
	}
	return nil
}

// MinAuthTokenLen is the shortest accepted server.auth_token.
const MinAuthTokenLen = 16

func (c *Config) validateSecurity() error {
	bad := func(key, format string, args ...any) error {
		return &KeyError{Key: key, Reason: fmt.Sprintf(format, args...)}
	}
	if tok := c.Server.AuthToken.Reveal(); tok != "" {
		if len(tok) < MinAuthTokenLen {
			return bad("server.auth_token", "want at least %d characters (e.g. openssl rand -hex 32), got %d", MinAuthTokenLen, len(tok))
		}
		for _, r := range tok {
			if r <= ' ' || r == 0x7f || r > '~' {
				return bad("server.auth_token", "want printable ASCII without spaces (it travels in an HTTP header)")
			}
		}
	}
	for i, o := range c.Server.CORSOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return bad("server.cors_origins", "entry %d: want an origin scheme://host[:port] without path, got %q", i, o)
		}
	}
	for i, h := range c.Server.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/:@ ") {
			return bad("server.allowed_hosts", "entry %d: want a host name without scheme or port, got %q", i, h)
		}
	}
	return nil
}

// LocalURL is local.url, or "" for the in-process backend, which has none.
func (c *Config) LocalURL() string {
	if c.Local.Backend == BackendLlamaCpp {
		return ""
	}
	return c.Local.URL
}

// EmbedModel is the local backend's model for embeddings: local.embed_model,
// else local.model.
func (c *Config) EmbedModel() string {
	if c.Local.EmbedModel != "" {
		return c.Local.EmbedModel
	}
	return c.Local.Model
}

// validateLocal checks the local.* keys that depend on local.backend.
func (c *Config) validateLocal() error {
	l := c.Local
	if !oneOf("local.backend", l.Backend) {
		return &KeyError{Key: "local.backend", Reason: fmt.Sprintf("want %s, got %q", orList("local.backend"), l.Backend)}
	}
	switch l.Backend {
	case BackendOllama, BackendLlamaServer:
		if err := checkURL(l.URL); err != nil {
			return &KeyError{Key: "local.url", Reason: err.Error()}
		}
		if strings.TrimSpace(l.Model) == "" {
			return &KeyError{Key: "local.model", Reason: "must not be empty"}
		}
		if l.EmbedModel != "" && strings.TrimSpace(l.EmbedModel) != l.EmbedModel {
			return &KeyError{Key: "local.embed_model", Reason: fmt.Sprintf("must not have leading or trailing spaces, got %q", l.EmbedModel)}
		}
		if l.ChatTemplate != "" {
			return &KeyError{Key: "local.chat_template", Reason: fmt.Sprintf("only used by local.backend llamacpp (the %s server applies the model's own template)", l.Backend)}
		}
	case BackendLlamaCpp:
		if strings.TrimSpace(l.Model) == "" {
			return &KeyError{Key: "local.model", Reason: "local.backend llamacpp needs the path of a GGUF file"}
		}
		if st, err := os.Stat(l.Model); err != nil || st.IsDir() {
			return &KeyError{Key: "local.model", Reason: fmt.Sprintf("local.backend llamacpp needs the path of a GGUF file; %q is not a readable file", l.Model)}
		}
		if l.EmbedModel != "" {
			return &KeyError{Key: "local.embed_model", Reason: "the in-process engine (local.backend llamacpp) computes no embeddings; leave it empty"}
		}
		if l.ChatTemplate != "" {
			if _, err := chattemplate.Parse(l.ChatTemplate); err != nil {
				return &KeyError{Key: "local.chat_template", Reason: err.Error()}
			}
		}
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an http(s) URL, got %q", s)
	}
	return nil
}

// ScorerOptions returns the scorer settings for uq.Build.
func (c *Config) ScorerOptions() uq.Options {
	var o uq.Options
	if len(c.UQ.SelfRef.Tokens) == 2 {
		o.SelfRefTokens = [2]string{c.UQ.SelfRef.Tokens[0], c.UQ.SelfRef.Tokens[1]}
	}
	o.Fallback = c.UQ.FallbackScorer
	return o
}

// DataPath is data_dir, or the user's data folder for edgecascade.
func (c *Config) DataPath() (string, error) {
	if c.DataDir != "" {
		return c.DataDir, nil
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "edgecascade"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", &KeyError{Key: "data_dir", Reason: "no home folder: set it"}
	}
	return filepath.Join(home, ".local", "share", "edgecascade"), nil
}

// SlogLevel returns the configured log level.
func (c *Config) SlogLevel() slog.Level {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Log.Level))
	return lvl
}

// validateAdapt checks the adapt settings.
func (c *Config) validateAdapt(bad func(key, format string, args ...any) error) error {
	a := c.Adapt
	if a.Enabled && len(c.LaterStages()) > 0 {
		// The labels and the online threshold are one local model's; with
		// several local stages they would mix the stages' scores.
		return bad("adapt.enabled", "online adaptation works with one local stage; cascade.stages has %d: turn one of them off", len(c.LaterStages())+1)
	}
	if t := a.Target; t != 0 && !(t > 0 && t < 1) {
		return bad("adapt.target", "want 0 (the calibration's) or a share in (0, 1), got %v", t)
	}
	if v := a.Confidence; !(v > 0 && v < 1) {
		return bad("adapt.confidence", "want a probability in (0, 1), got %v", v)
	}
	if a.Window < 50 {
		return bad("adapt.window", "want at least 50 decisions, got %d", a.Window)
	}
	if r := a.ExploreRate; !(r >= 0 && r <= 1) {
		return bad("adapt.explore_rate", "want a share in [0, 1], got %v", r)
	}
	switch a.Agreement {
	case "exact", "normalized", "numeric", "judge":
	default:
		return bad("adapt.agreement", "want exact, normalized, numeric or judge, got %q", a.Agreement)
	}
	if q := a.CloudAccuracy; !(q > 0.5 && q <= 1) {
		return bad("adapt.cloud_accuracy", "want a share in (0.5, 1], got %v", q)
	}
	if a.MinLabels < 1 {
		return bad("adapt.min_labels", "want at least 1, got %d", a.MinLabels)
	}
	if a.GroupMinLabels < 1 {
		return bad("adapt.group_min_labels", "want at least 1, got %d", a.GroupMinLabels)
	}
	return nil
}
