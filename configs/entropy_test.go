package configs

import (
	"errors"
	"strings"
	"testing"
)

// Issue 14 item 8: with local.top_logprobs 1 each position's single
// alternative is renormalized over itself, so entropy scores every answer
// 1.0. Validate refuses the combination and names both keys.
func TestEntropyNeedsTwoAlternatives(t *testing.T) {
	tests := []struct {
		yaml string
		ok   bool
	}{
		{"local: {top_logprobs: 1}\ncascade: {scorer: entropy}", false},
		{"local: {top_logprobs: 1}\ncascade: {scorer: selfref}\nuq: {fallback_scorer: entropy}", false},
		{"local: {top_logprobs: 0}\ncascade: {scorer: entropy}", true},
		{"local: {top_logprobs: 2}\ncascade: {scorer: entropy}", true},
		{"local: {top_logprobs: 1}\ncascade: {scorer: mean_logprob}", true},
		{"local: {top_logprobs: 1}\ncascade: {scorer: mean_logprob}\nuq: {fallback_scorer: entropy}", true},
	}
	for _, tc := range tests {
		_, err := Load(writeFile(t, tc.yaml), nil)
		if tc.ok {
			if err != nil {
				t.Errorf("%q: refused: %v", tc.yaml, err)
			}
			continue
		}
		var ke *KeyError
		if !errors.As(err, &ke) || ke.Key != "local.top_logprobs" {
			t.Errorf("%q: want a KeyError for local.top_logprobs, got %v", tc.yaml, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "local.top_logprobs") || !strings.Contains(msg, "entropy") ||
			!(strings.Contains(msg, "cascade.scorer") || strings.Contains(msg, "uq.fallback_scorer")) {
			t.Errorf("%q: message %q does not name both keys", tc.yaml, msg)
		}
	}
}
