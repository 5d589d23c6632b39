package configs

import (
	"slices"
	"strings"
)

// choices are the allowed values of the settings that take one of a fixed
// list: Validate checks against them, shell completion offers them.
var choices = map[string][]string{
	"local.backend":      {BackendOllama, BackendLlamaServer, BackendLlamaCpp},
	"cloud.provider":     {"openai", "anthropic"},
	"cascade.scorer":     {"mean_logprob", "min_logprob", "entropy", "selfref", "probe", "combined"},
	"uq.fallback_scorer": {"mean_logprob", "min_logprob", "entropy"},
	"log.level":          {"debug", "info", "warn", "error"},
}

// Choices returns the allowed values of the setting key when it takes one
// of a fixed list (local.backend, cloud.provider, cascade.scorer,
// uq.fallback_scorer, log.level), else nil.
func Choices(key string) []string {
	return slices.Clone(choices[key])
}

// oneOf reports whether v is an allowed value of key.
func oneOf(key, v string) bool {
	return slices.Contains(choices[key], v)
}

// orList renders key's allowed values as "a, b or c".
func orList(key string) string {
	c := choices[key]
	if len(c) < 2 {
		return strings.Join(c, "")
	}
	return strings.Join(c[:len(c)-1], ", ") + " or " + c[len(c)-1]
}
