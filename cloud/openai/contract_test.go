package openai

import (
	"testing"

	"github.com/edgecascade/edgecascade/cloud/cloudtest"
	"github.com/edgecascade/edgecascade/cloud/openai/openaitest"
)

// TestContract runs the cloud provider contract against the fake server
// that follows OpenAI's documented chat completions wire format
// (openaitest).
func TestContract(t *testing.T) {
	cloudtest.Run(t, func(t *testing.T, cfg cloudtest.Config) cloudtest.Target {
		return contractTarget(t, cfg)
	})
}

// contractTarget is a client against a new openaitest server, or against
// an address where nothing listens.
func contractTarget(t *testing.T, cfg cloudtest.Config) cloudtest.Target {
	url := cloudtest.RefusedURL(t)
	var fake cloudtest.Fake
	if !cfg.Refused {
		s := openaitest.New(t, openaitest.Config{Model: "gpt-test-0613"})
		url, fake = s.URL, s.Fake()
	}
	c := newTestClient(t, url, func(c *Config) { c.Timeout, c.MaxRetries = cfg.Timeout, cfg.MaxRetries })
	return cloudtest.Target{Provider: c, Fake: fake, Keys: []string{testKey}, Answerer: ProviderName, Model: "gpt-test-0613"}
}
