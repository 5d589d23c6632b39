package configs

import (
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
		{"cloud: {base_url: 'not a url'}", "cloud.base_url"},
		{"cloud: {model: ' '}", "cloud.model"},
		{"cloud: {timeout: 0s}", "cloud.timeout"},
		{"cloud: {max_retries: -1}", "cloud.max_retries"},
		{"cascade: {scorer: perplexity}", "cascade.scorer"},
		{"cascade: {threshold: -0.1}", "cascade.threshold"},
		{"server: {max_body_bytes: 0}", "server.max_body_bytes"},
		{"log: {level: loud}", "log.level"},
		{"cascade: {treshold: 0.3}", "cascade.treshold"}, // typo: unknown key
		{"cloud: {providers: [{provider: gemini, model: x}]}", "cloud.providers[0]"},
		{"cloud: {providers: [{provider: openai, model: a}, {provider: openai, model: ''}]}", "cloud.providers[1]"},
		{"cloud: {cost_input_per_1k: -1}", "cloud.cost_input_per_1k"},
		{"local: {backend: llamacpp-server, url: 'localhost:8080'}", "local.url"},
		{"local: {backend: llamacpp-server, chat_template: chatml}", "local.chat_template"},
		{"local: {backend: llamacpp, model: ''}", "local.model"},
		{"local: {backend: llamacpp, model: /no/such/model.gguf}", "local.model"},
		{"local: {backend: llamacpp, model: ../testdata/testbed/models}", "local.model"},
		{"local: {backend: llamacpp, model: ../testdata/testbed/models/weak.gguf, chat_template: vicuna}", "local.chat_template"},
		{"local: {backend: llamacpp, model: ../testdata/testbed/models/weak.gguf, chat_template: '{{range .Messages}'}", "local.chat_template"},
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
