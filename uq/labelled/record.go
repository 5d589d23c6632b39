// Package labelled runs a local model (and optionally a cloud provider) over a
// labelled JSONL data set, scores every answer with every scorer, judges it
// with a matcher, and caches the answers on disk so that re-runs are free.
package labelled

import "time"

// Item is one labelled question: {"prompt", "answer"} and optionally "task".
type Item struct {
	Task   string `json:"task,omitempty"`
	Prompt string `json:"prompt"`
	Answer string `json:"answer"`
}

// Record is the outcome of one item: the local answer with every scorer's
// raw score and whether it was right, and, when the cloud was run, the
// cloud's answer and whether it was right. LocalAnswer is the answer a user
// sees (after Runner.Clean); LocalRawAnswer is the answer as the model
// generated it, which is what scorers and hidden-state probes read.
type Record struct {
	Index          int                `json:"index"`
	Task           string             `json:"task,omitempty"`
	Prompt         string             `json:"prompt"`
	Expected       string             `json:"expected"`
	LocalAnswer    string             `json:"local_answer"`
	LocalRawAnswer string             `json:"local_raw_answer,omitempty"`
	LocalCorrect   bool               `json:"local_correct"`
	Scores         map[string]float64 `json:"scores"`
	LocalLatency   time.Duration      `json:"local_latency"`
	CloudAnswer    string             `json:"cloud_answer,omitempty"`
	CloudCorrect   *bool              `json:"cloud_correct,omitempty"`
	CloudLatency   time.Duration      `json:"cloud_latency,omitempty"`
	// CloudProvider and CloudModel name who answered (a provider chain may
	// fall back), so that the answer is priced at that provider's price.
	CloudProvider string `json:"cloud_provider,omitempty"`
	CloudModel    string `json:"cloud_model,omitempty"`
	// CloudUsage is the cloud answer's token counts; nil when the cloud was
	// not run or its counts are unknown (neither reported nor estimated).
	CloudUsage *CloudUsage `json:"cloud_usage,omitempty"`
}

// CloudUsage counts the tokens one cloud answer was billed for.
type CloudUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	// Estimated is set when the provider reported no counts (or the cached
	// answer predates them) and they were counted with Runner.Counter.
	Estimated bool `json:"estimated,omitempty"`
}
