package configs

import (
	"errors"
	"strings"
	"testing"
)

// FuzzLoad: a config file never panics the loader; it is either refused
// with an error that names the bad key (or says the YAML does not parse) or
// loaded into a configuration that validates. Seeds: testdata/fuzz/FuzzLoad
// and the f.Add calls; `go test -fuzz=FuzzLoad -fuzztime=10m ./configs/`.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"", "listen: 127.0.0.1:9000\n", "listen: [1, 2]\n", "cascade: {threshold: .nan}\n",
		"server: {auth_token: short}\n", "server: {auth_token: 0123456789abcdef0123, cors_origins: [https://app.example]}\n",
		"server: {cors_origins: ['https://a.example/path']}\n", "server: {allowed_hosts: [my.box]}\n",
		"server: {max_body_bytes: abc}\n", "cloud:\n  providers:\n    - {provider: openai, model: m}\n    - {provider: x}\n",
		"uq: {selfref: {tokens: [a]}}\n", "log: {level: loud}\n", "nope: 1\n", "{{{", "local: 3\n", "- a\n- b\n",
	} {
		f.Add([]byte(s))
	}
	keys := make([]string, 0, len(Settings))
	for _, s := range Settings {
		keys = append(keys, s.Key)
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		c, err := load(file, "fuzz.yaml", nil)
		if err != nil {
			if c != nil {
				t.Fatalf("a config and an error: %v", err)
			}
			var ke *KeyError
			if errors.As(err, &ke) {
				if ke.Key == "" {
					t.Fatalf("KeyError without a key: %v", err)
				}
				return
			}
			msg := err.Error()
			if strings.HasPrefix(msg, "parse config ") {
				return // YAML syntax: there is no key to name
			}
			for _, k := range keys {
				if strings.Contains(msg, k) {
					return
				}
			}
			t.Fatalf("error names no key: %v", err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("loaded a config that does not validate: %v", err)
		}
	})
}
