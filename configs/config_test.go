package configs

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

func TestDefaultsValidAndDocumented(t *testing.T) {
	c := Default()
	if c.Listen != "127.0.0.1:8088" || c.Local.URL != "http://127.0.0.1:11434" || c.Cascade.Scorer != "mean_logprob" {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	// Every key in default.yaml is documented, and every documented key exists.
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(strings.NewReader(string(defaultYAML))); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, s := range Settings {
		documented[s.Key] = true
		if !v.IsSet(s.Key) {
			t.Errorf("documented key %s missing from default.yaml", s.Key)
		}
	}
	for _, k := range v.AllKeys() {
		if !documented[k] {
			t.Errorf("key %s in default.yaml is not documented in Settings", k)
		}
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLocalBackends(t *testing.T) {
	tests := []struct {
		yaml    string
		backend string
	}{
		{"local: {backend: ollama}", BackendOllama},
		{"local: {backend: llamacpp-server, url: 'http://127.0.0.1:8080', model: qwen}", BackendLlamaServer},
		// The in-process engine needs no URL: the default one is ignored.
		{"local: {backend: llamacpp, model: ../testdata/testbed/models/weak.gguf}", BackendLlamaCpp},
		{"local: {backend: llamacpp, model: ../testdata/testbed/models/weak.gguf, chat_template: chatml}", BackendLlamaCpp},
		{"local: {backend: llamacpp, model: ../testdata/testbed/models/weak.gguf, chat_template: '{{range .Messages}}{{.Content}}{{end}}'}", BackendLlamaCpp},
	}
	for _, tc := range tests {
		c, err := Load(writeFile(t, tc.yaml), nil)
		if err != nil {
			t.Errorf("%q: %v", tc.yaml, err)
			continue
		}
		if c.Local.Backend != tc.backend {
			t.Errorf("%q: backend %q, want %q", tc.yaml, c.Local.Backend, tc.backend)
		}
	}
}

func TestValidateNamesBadKey(t *testing.T) {
	tests := []struct {
		yaml string
		key  string
	}{
		{"listen: nonsense", "listen"},
		{"local: {backend: vllm}", "local.backend"},
		{"local: {url: 'ftp://x'}", "local.url"},
		{"local: {model: ''}", "local.model"},
		{"local: {top_logprobs: 21}", "local.top_logprobs"},
		{"local: {max_concurrent: 0}", "local.max_concurrent"},
		{"local: {max_queue: -1}", "local.max_queue"},
		{"cloud: {base_url: 'not a url'}", "cloud.base_url"},
		{"cloud: {model: ' '}", "cloud.model"},
		{"cloud: {timeout: 0s}", "cloud.timeout"},
		{"cloud: {max_retries: -1}", "cloud.max_retries"},
		{"cascade: {scorer: perplexity}", "cascade.scorer"},
		{"cascade: {threshold: -0.1}", "cascade.threshold"},
		{"server: {max_body_bytes: 0}", "server.max_body_bytes"},
		{"outbox: {max_items: 0}", "outbox.max_items"},
		{"log: {retention: 0s}", "log.retention"},
		{"log: {max_entries: 0}", "log.max_entries"},
		{"outbox: {max_age: 0s}", "outbox.max_age"},
		{"server: {body_timeout: 0s}", "server.body_timeout"},
		{"server: {idle_timeout: -1s}", "server.idle_timeout"},
		{"server: {max_connections: 0}", "server.max_connections"},
		{"log: {level: loud}", "log.level"},
		{"cascade: {treshold: 0.3}", "cascade.treshold"}, // typo: unknown key
		{"cloud: {providers: [{provider: gemini, model: x}]}", "cloud.providers[0]"},
		{"cloud: {providers: [{provider: openai, model: a}, {provider: openai, model: ''}]}", "cloud.providers[1]"},
		{"cloud: {cost_input_per_1k: -1}", "cloud.cost_input_per_1k"},
		{"listen: '0.0.0.0:8080'\nserver: {pprof: true}", "server.pprof"},
		{"listen: ':8080'\nserver: {pprof: true}", "server.pprof"},
		{"local: {backend: llamacpp-server, url: 'localhost:8080'}", "local.url"},
		{"local: {backend: llamacpp-server, chat_template: chatml}", "local.chat_template"},
		{"local: {backend: llamacpp, model: ''}", "local.model"},
		{"local: {backend: llamacpp, model: /no/such/model.gguf}", "local.model"},
		{"local: {backend: llamacpp, model: ../testdata/testbed/models}", "local.model"},
		{"local: {backend: llamacpp, model: ../testdata/testbed/models/weak.gguf, chat_template: vicuna}", "local.chat_template"},
		{"local: {backend: llamacpp, model: ../testdata/testbed/models/weak.gguf, chat_template: '{{range .Messages}'}", "local.chat_template"},
		{"local: {embed_model: ' nomic-embed-text'}", "local.embed_model"},
		{"local: {backend: llamacpp, model: ../testdata/testbed/models/weak.gguf, embed_model: nomic-embed-text}", "local.embed_model"},
	}
	for _, tc := range tests {
		_, err := Load(writeFile(t, tc.yaml), nil)
		var ke *KeyError
		if !errors.As(err, &ke) {
			t.Errorf("%q: want KeyError, got %v", tc.yaml, err)
			continue
		}
		if ke.Key != tc.key {
			t.Errorf("%q: error names %s, want %s", tc.yaml, ke.Key, tc.key)
		}
		if !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: message %q does not name the key", tc.yaml, err)
		}
	}
}

func TestPprofOnLoopback(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:8080", "[::1]:8080", "localhost:8080"} {
		c, err := Load(writeFile(t, "listen: '"+listen+"'\nserver: {pprof: true}"), nil)
		if err != nil || !c.Server.Pprof {
			t.Errorf("pprof on %s: %v, %+v", listen, err, c)
		}
	}
}

func TestThresholdZeroIsValid(t *testing.T) {
	c, err := Load(writeFile(t, "cascade: {threshold: 0}"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cascade.Threshold != 0 {
		t.Fatalf("threshold = %v, want 0", c.Cascade.Threshold)
	}
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	path := writeFile(t, "local: {model: from-file}\ncascade: {threshold: 0.2}\ncloud: {model: file-cloud}")
	t.Setenv("EDGECASCADE_CASCADE_THRESHOLD", "0.7")
	t.Setenv("EDGECASCADE_CLOUD_MODEL", "env-cloud")
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.String("cloud.model", "", "")
	if err := fs.Parse([]string{"--cloud.model=flag-cloud"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, fs)
	if err != nil {
		t.Fatal(err)
	}
	if c.Local.Model != "from-file" || c.Cascade.Threshold != 0.7 || c.Cloud.Model != "flag-cloud" {
		t.Fatalf("precedence wrong: model=%s threshold=%v cloud=%s", c.Local.Model, c.Cascade.Threshold, c.Cloud.Model)
	}
}

func TestAPIKeyFallbackAndRedaction(t *testing.T) {
	const key = "sk-test-0123456789"
	t.Setenv("OPENAI_API_KEY", key)
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cloud.APIKey.Reveal() != key {
		t.Fatalf("api key not read from OPENAI_API_KEY")
	}
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("cfg", "key", c.Cloud.APIKey, "cloud", c.Cloud)
	out := sb.String() + fmt.Sprintf("%v %+v %s", c.Cloud.APIKey, c.Cloud, c.Cloud.APIKey)
	if strings.Contains(out, key) {
		t.Fatalf("api key leaked: %s", out)
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil); err == nil {
		t.Fatal("missing config file accepted")
	}
}

func TestCloudProviderDefaults(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-openai")
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant")
	tests := []struct {
		yaml, url, key string
	}{
		{"cloud: {provider: openai}", "https://api.openai.com/v1", "sk-openai"},
		{"cloud: {provider: anthropic, model: claude-x}", "https://api.anthropic.com", "sk-ant"},
		{"cloud: {provider: openai, base_url: 'http://127.0.0.1:9/v1', api_key: own}", "http://127.0.0.1:9/v1", "own"},
	}
	for _, tc := range tests {
		c, err := Load(writeFile(t, tc.yaml), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.yaml, err)
		}
		if c.CloudBaseURL() != tc.url || c.Cloud.APIKey.Reveal() != tc.key {
			t.Errorf("%s: url %s key %q, want %s %q", tc.yaml, c.CloudBaseURL(), c.Cloud.APIKey.Reveal(), tc.url, tc.key)
		}
	}
	if _, err := Load(writeFile(t, "cloud: {provider: gemini}"), nil); err == nil || !strings.Contains(err.Error(), "cloud.provider") {
		t.Fatalf("unknown provider: %v", err)
	}
}

func TestResourceRules(t *testing.T) {
	c := Default()
	r := c.Resources.Rules
	if len(r) != 3 || r[0].Name != "low-battery" || r[0].When.BatteryBelow == nil || *r[0].When.BatteryBelow != 20 ||
		r[0].When.OnBattery == nil || !*r[0].When.OnBattery || r[1].When.TempAbove == nil || *r[1].When.TempAbove != 85 ||
		r[2].When.Offline == nil || r[2].Action != "force_local" {
		t.Fatalf("default rules decoded as %+v", r)
	}
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown action":  {"resources:\n  rules:\n    - {name: x, temp_above: 80, action: explode}\n", `rule "x": action`},
		"empty condition": {"resources:\n  rules:\n    - {name: x, action: prefer_cloud}\n", "empty condition"},
		"bad percentage":  {"resources:\n  rules:\n    - {name: x, battery_below: 120, action: prefer_cloud}\n", "battery_below"},
		"offline budget":  {"budget:\n  calls_per_day: -1\n", "budget.calls_per_day"},
		"drain rate":      {"outbox:\n  drain_rate: 0\n", "outbox.drain_rate"},
		"breaker":         {"cloud:\n  breaker: {failures: 0}\n", "cloud.breaker.failures"},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(p, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("resources:\n  rules: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(p, nil); err != nil || len(c.Resources.Rules) != 0 {
		t.Fatalf("rules can be emptied: %v %+v", err, c)
	}
}

// TestSecretsRedacted: the API key and the server token never print, in
// slog (text and JSON), fmt verbs or JSON, nested in the Config.
func TestSecretsRedacted(t *testing.T) {
	const key, token = "sk-test-REDACT-0001", "tok-REDACT-0123456789"
	t.Setenv("EDGECASCADE_CLOUD_API_KEY", key)
	t.Setenv("EDGECASCADE_SERVER_AUTH_TOKEN", token)
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cloud.APIKey.Reveal() != key || c.Server.AuthToken.Reveal() != token {
		t.Fatalf("secrets not loaded from the environment: %q %q", c.Cloud.APIKey.Reveal(), c.Server.AuthToken.Reveal())
	}
	var buf strings.Builder
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(h).Info("cfg", "config", c, "key", c.Cloud.APIKey, "token", c.Server.AuthToken, "server", c.Server)
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String() + string(js) + fmt.Sprintf("%v %+v %#v %s %v %d %x %q %10.4s", c, c, c, c.Server.AuthToken, c.Server, c.Cloud.APIKey, c.Cloud.APIKey, c.Server.AuthToken, c.Cloud.APIKey) +
		fmt.Errorf("wrapped: %v", c.Cloud.APIKey).Error()
	for _, s := range []string{key, token, "REDACT-"} {
		if strings.Contains(out, s) {
			t.Fatalf("%q printed:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "[redacted]") {
		t.Fatalf("no redaction marker:\n%s", out)
	}
}

func TestAuthTokenSources(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "token")
	os.WriteFile(good, []byte("  file-token-0123456789  \nsecond line\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	tests := []struct {
		name, yaml, env string
		want, key       string // the token loaded, or the key the error names
	}{
		{"file", "server: {auth_token_file: " + good + "}", "", "file-token-0123456789", ""},
		{"env", "", "env-token-0123456789", "env-token-0123456789", ""},
		{"file and token", "server: {auth_token_file: " + good + "}", "env-token-0123456789", "", "server.auth_token_file"},
		{"missing file", "server: {auth_token_file: " + filepath.Join(dir, "nope") + "}", "", "", "server.auth_token_file"},
		{"empty file", "server: {auth_token_file: " + empty + "}", "", "", "server.auth_token_file"},
		{"too short", "server: {auth_token: short}", "", "", "server.auth_token"},
		{"space inside", "server: {auth_token: 'has a space 0123456789'}", "", "", "server.auth_token"},
		{"origin with path", "server: {cors_origins: ['https://app.example/x']}", "", "", "server.cors_origins"},
		{"origin without scheme", "server: {cors_origins: ['app.example']}", "", "", "server.cors_origins"},
		{"host with port", "server: {allowed_hosts: ['my.box:8088']}", "", "", "server.allowed_hosts"},
		{"good lists", "server: {cors_origins: ['https://app.example', 'http://localhost:3000'], allowed_hosts: [my.box]}", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("EDGECASCADE_SERVER_AUTH_TOKEN", tc.env)
			path := ""
			if tc.yaml != "" {
				path = writeFile(t, tc.yaml)
			}
			c, err := Load(path, nil)
			if tc.key != "" {
				var ke *KeyError
				if !errors.As(err, &ke) || ke.Key != tc.key {
					t.Fatalf("error %v, want one naming %s", err, tc.key)
				}
				if tc.env != "" && strings.Contains(err.Error(), tc.env) {
					t.Fatalf("the error shows the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Server.AuthToken.Reveal(); got != tc.want {
				t.Fatalf("token %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCORSOriginsFromEnv(t *testing.T) {
	t.Setenv("EDGECASCADE_SERVER_CORS_ORIGINS", "https://a.example,http://localhost:3000")
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Server.CORSOrigins, " "); got != "https://a.example http://localhost:3000" {
		t.Fatalf("cors_origins from env = %q", got)
	}
	t.Setenv("EDGECASCADE_SERVER_CORS_ORIGINS", "https://a.example,*")
	var ke *KeyError
	if _, err := Load("", nil); !errors.As(err, &ke) || ke.Key != "server.cors_origins" {
		t.Fatalf("wildcard origin: %v", err)
	}
}

// TestEmbedModel: local.embed_model when set, else local.model.
func TestEmbedModel(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"local: {model: chat}", "chat"},
		{"local: {model: chat, embed_model: nomic-embed-text}", "nomic-embed-text"},
	} {
		c, err := Load(writeFile(t, tc.yaml), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.EmbedModel(); got != tc.want {
			t.Errorf("%q: EmbedModel %q, want %q", tc.yaml, got, tc.want)
		}
	}
}
