package models

import (
	"encoding/json"
	"time"
)

// Options are the generation options a client may set, passed to whichever
// model answers: the local backend (models.Request), the cloud provider
// (cloud.Request) and the outbox (agent/outbox.Request) embed them. Nil or
// empty means the backend's default. Backends that cannot honour an option
// say so in their package documentation (docs/api.md has the table).
type Options struct {
	// Stop sequences end the answer (up to 4, as OpenAI allows).
	Stop []string `json:"stop,omitempty"`
	// Seed asks for reproducible sampling.
	Seed *int64 `json:"seed,omitempty"`
	// TopP is nucleus sampling's probability mass (0-1).
	TopP *float64 `json:"top_p,omitempty"`
	// TopK samples from the K most likely tokens only (Ollama's top_k,
	// llama-server's top_k). No cloud provider takes it: the OpenAI and
	// Anthropic APIs have none, so it is named in the decision's reason when
	// the cloud answers.
	TopK *int `json:"top_k,omitempty"`
	// NumCtx is the context size (tokens) the local model runs with
	// (Ollama's num_ctx); 0 is the backend's. Backends with a fixed context
	// (llama-server, the in-process engine) honour a NumCtx up to theirs and
	// refuse a larger one. The cloud ignores it, like KeepAlive.
	NumCtx int `json:"num_ctx,omitempty"`
	// User identifies the end user to the cloud provider (OpenAI's user,
	// Anthropic's metadata.user_id) for its abuse monitoring; the decision
	// log records it. The local model has no use for it.
	User string `json:"user,omitempty"`
	// FrequencyPenalty and PresencePenalty are OpenAI's repetition
	// penalties (-2 to 2).
	FrequencyPenalty *float64 `json:"frequency_penalty,omitempty"`
	PresencePenalty  *float64 `json:"presence_penalty,omitempty"`
	// Format constrains the answer to JSON; nil means free text.
	Format *Format `json:"format,omitempty"`
	// KeepAlive is how long the local backend keeps the model loaded after
	// the request (Ollama's keep_alive); nil is the backend's default. The
	// cloud ignores it: it is about the local model's memory only.
	KeepAlive *time.Duration `json:"keep_alive,omitempty"`
	// Tools are the functions the model may call; ToolChoice says whether
	// and which (nil: the backend's default, auto); ParallelToolCalls
	// whether it may call several at once (nil: the backend's default).
	Tools             []Tool      `json:"tools,omitempty"`
	ToolChoice        *ToolChoice `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool       `json:"parallel_tool_calls,omitempty"`
}

// Format asks for a JSON answer: any JSON object when Schema is empty, else
// one matching the JSON schema.
type Format struct {
	// Schema is a JSON schema; empty means any JSON object (JSON mode).
	Schema json.RawMessage `json:"schema,omitempty"`
	// Name, Description and Strict are OpenAI's json_schema fields, passed
	// to providers that take them.
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Strict      bool   `json:"strict,omitempty"`
}
