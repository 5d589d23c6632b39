package anthropic

import (
	"testing"

	"github.com/edgecascade/edgecascade/cloud/anthropic/anthropictest"
	"github.com/edgecascade/edgecascade/cloud/cloudtest"
)

// TestContract runs the cloud provider contract against the fake server
// that follows Anthropic's documented Messages wire format (anthropictest).
func TestContract(t *testing.T) {
	cloudtest.Run(t, func(t *testing.T, cfg cloudtest.Config) cloudtest.Target {
		url := cloudtest.RefusedURL(t)
		var fake cloudtest.Fake
		if !cfg.Refused {
			s := anthropictest.New(t, anthropictest.Config{})
			url, fake = s.URL, s.Fake()
		}
		c := newTestClient(t, url, func(c *Config) { c.Timeout, c.MaxRetries = cfg.Timeout, cfg.MaxRetries })
		return cloudtest.Target{Provider: c, Fake: fake, Keys: []string{testKey}, Answerer: ProviderName, Model: anthropictest.DefaultModel}
	})
}
