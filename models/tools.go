package models

import (
	"context"
	"encoding/json"
	"slices"
)

// Tool is a function the model may call (OpenAI's function tool, Ollama's
// tool, Anthropic's tool): its name, what it does and its parameters as a
// JSON schema object.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	// Strict is OpenAI's strict schema adherence, passed to providers that
	// take it.
	Strict bool `json:"strict,omitempty"`
}

// ToolCall is a call of a tool by the model: Arguments is a JSON object.
type ToolCall struct {
	// ID identifies the call; a tool message answers it by ID. Backends
	// that give none (Ollama) get one made up by the caller.
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// The tool choice modes (OpenAI's words): the model may call tools (auto),
// must not (none), must call one (required), or must call the tool named in
// ToolChoice.Name (function).
const (
	ToolChoiceAuto     = "auto"
	ToolChoiceNone     = "none"
	ToolChoiceRequired = "required"
	ToolChoiceFunction = "function"
)

// ToolChoice says whether and which tool the model must call.
type ToolChoice struct {
	Mode string `json:"mode"`
	// Name is the tool to call when Mode is ToolChoiceFunction.
	Name string `json:"name,omitempty"`
}

// Image is an image in a user message: its bytes with their media type
// (image/png, ...), or a URL the model's server fetches itself.
type Image struct {
	Data      []byte `json:"data,omitempty"`
	MediaType string `json:"media_type,omitempty"`
	URL       string `json:"url,omitempty"`
}

// The capabilities a request may need beyond text, in the backends' words
// (Ollama's /api/show capabilities).
const (
	CapabilityTools  = "tools"
	CapabilityVision = "vision"
)

// Capabler reports what a local model takes beyond plain text, in the
// backend's words (CapabilityTools, CapabilityVision, ...). A model that
// does not implement it takes text only.
type Capabler interface {
	Capabilities(ctx context.Context) ([]string, error)
}

// Needs lists the capabilities a conversation and its options need:
// tools when tools are offered or the conversation holds tool calls or
// tool results, vision when a message holds images.
func Needs(msgs []Message, o Options) []string {
	var tools, vision bool
	tools = len(o.Tools) > 0
	for _, m := range msgs {
		if len(m.ToolCalls) > 0 || m.Role == "tool" {
			tools = true
		}
		if len(m.Images) > 0 {
			vision = true
		}
	}
	var out []string
	if tools {
		out = append(out, CapabilityTools)
	}
	if vision {
		out = append(out, CapabilityVision)
	}
	return out
}

// Missing is the first capability of need that caps lacks ("" when none).
func Missing(need, caps []string) string {
	for _, n := range need {
		if !slices.Contains(caps, n) {
			return n
		}
	}
	return ""
}
