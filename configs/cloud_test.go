package configs

import (
	"testing"
	"time"
)

// TestCloudProviders: the single provider of cloud.* and the list
// cloud.providers resolve to the specs serve, eval and doctor all use.
func TestCloudProviders(t *testing.T) {
	t.Setenv("EDGECASCADE_CLOUD_API_KEY", "sk-single-0123456789")
	t.Setenv("TEST_SECOND_KEY", "sk-second-0123456789")
	single, err := Load(writeFile(t, "cloud: {provider: anthropic, model: m, timeout: 7s, max_retries: 3, cost_input_per_1k: 0.5}"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := single.CloudProviders()
	if len(got) != 1 {
		t.Fatalf("%d specs, want 1", len(got))
	}
	s := got[0]
	if s.Label != "cloud" || s.Provider != "anthropic" || s.BaseURL != "" || s.URL != "https://api.anthropic.com" || s.Model != "m" ||
		s.APIKey.Reveal() != "sk-single-0123456789" || s.KeyFrom != "EDGECASCADE_CLOUD_API_KEY or ANTHROPIC_API_KEY" ||
		s.Timeout != 7*time.Second || s.MaxRetries != 3 || s.CostInputPer1K != 0.5 {
		t.Fatalf("single provider: %+v", s)
	}

	list, err := Load(writeFile(t, `cloud:
  timeout: 9s
  providers:
    - {provider: openai, base_url: "http://127.0.0.1:1/v1", model: a, max_retries: 1, cost_output_per_1k: 2}
    - {provider: openai, model: b, api_key_env: TEST_SECOND_KEY, timeout: 3s}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	got = list.CloudProviders()
	if len(got) != 2 {
		t.Fatalf("%d specs, want 2", len(got))
	}
	a, b := got[0], got[1]
	if a.Label != "cloud.providers[0]" || a.URL != "http://127.0.0.1:1/v1" || a.BaseURL != a.URL || a.Model != "a" || a.APIKey != "" ||
		a.KeyFrom != "an environment variable named by its api_key_env" || a.Timeout != 9*time.Second || a.MaxRetries != 1 || a.CostOutputPer1K != 2 {
		t.Fatalf("first entry: %+v", a)
	}
	if b.Label != "cloud.providers[1]" || b.URL != "https://api.openai.com/v1" || b.BaseURL != "" || b.APIKey.Reveal() != "sk-second-0123456789" ||
		b.KeyFrom != "TEST_SECOND_KEY" || b.Timeout != 3*time.Second {
		t.Fatalf("second entry: %+v", b)
	}
}
