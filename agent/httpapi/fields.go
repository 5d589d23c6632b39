package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/models"
)

// The rule for request fields: every field is honoured or refused with a 400
// that names it; nothing is silently dropped. docs/api.md has the table and
// fields_test.go enumerates the SDKs' request types against it.

// openAIFields are the /v1/chat/completions fields edgecascade honours.
var openAIFields = []string{
	"model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
	"temperature", "top_p", "stop", "seed", "frequency_penalty", "presence_penalty",
	"n", "logprobs", "top_logprobs", "response_format", "user", "cascade",
	"tools", "tool_choice", "parallel_tool_calls",
}

// ollamaChatFields and ollamaGenerateFields are the /api/chat and
// /api/generate fields edgecascade honours; ollamaGenerateOwn are generate's
// fields refused with their own message (decodeOllamaGenerate).
var (
	ollamaChatFields     = []string{"model", "messages", "stream", "format", "keep_alive", "options", "logprobs", "top_logprobs", "tools"}
	ollamaGenerateFields = []string{"model", "prompt", "system", "stream", "format", "keep_alive", "options", "logprobs", "top_logprobs",
		"raw", "suffix"}
	ollamaGenerateOwn = []string{"images", "template", "context"}
)

// The message fields honoured: role and content, images, tool calls and
// what a tool message answers.
var (
	openAIMessageFields = []string{"role", "content", "tool_calls", "tool_call_id"}
	ollamaMessageFields = []string{"role", "content", "images", "tool_calls", "tool_name", "tool_call_id"}
)

// ollamaOptionFields are the Ollama options edgecascade honours: those that
// both the local model and the cloud provider take, and top_k (the cloud
// providers have none: the decision's reason names it when the cloud
// answers) and num_ctx (the local model's context; llama-server and the
// in-process engine refuse one larger than theirs).
var ollamaOptionFields = []string{"temperature", "num_predict", "stop", "seed", "top_p", "top_k", "num_ctx", "frequency_penalty", "presence_penalty"}

// refuseUnknownInMessages refuses message fields not in known; null, "" and
// [] count as absent.
func refuseUnknownInMessages(body []byte, known []string) error {
	var top struct {
		Messages []map[string]json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(body, &top); err != nil {
		return nil // the typed decoding reports it
	}
	for i, m := range top.Messages {
		names := make([]string, 0, len(m))
		for k, v := range m {
			if slices.Contains(known, k) {
				continue
			}
			switch string(bytes.TrimSpace(v)) {
			case "null", `""`, "[]":
				continue
			}
			names = append(names, k)
		}
		if len(names) > 0 {
			sort.Strings(names)
			return unsupported(fmt.Sprintf("messages[%d].%s", i, names[0]))
		}
	}
	return nil
}

// refuseUnknown refuses the first (in name order) top-level field of body
// that is not in known and not null, then the first message field not in
// msgKnown.
func refuseUnknown(body []byte, known, msgKnown []string) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil // the typed decoding reports it
	}
	names := make([]string, 0, len(fields))
	for k, v := range fields {
		if !slices.Contains(known, k) && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			names = append(names, k)
		}
	}
	if len(names) > 0 {
		sort.Strings(names)
		return unsupported(names[0])
	}
	return refuseUnknownInMessages(body, msgKnown)
}

func unsupported(field string) error {
	return &BadRequestError{Msg: fmt.Sprintf("field %s is not supported by edgecascade (docs/api.md lists the fields it honours)", field), Param: field}
}

// stopField is OpenAI's stop: a string or an array of up to 4 strings.
type stopField []string

func (s *stopField) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = stopField{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("stop must be a string or an array of strings")
	}
	*s = many
	return nil
}

// responseFormat is OpenAI's response_format.
type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Schema      json.RawMessage `json:"schema"`
		Strict      *bool           `json:"strict"`
	} `json:"json_schema"`
}

// openAIOptions validates the generation options of a chat request into req.
func openAIOptions(cr *chatRequest, req *cascade.Request) error {
	if len(cr.Stop) > 4 {
		return &BadRequestError{Msg: fmt.Sprintf("stop takes up to 4 sequences, got %d", len(cr.Stop)), Param: "stop"}
	}
	req.Stop = cr.Stop
	req.Seed = cr.Seed
	req.User = cr.User
	for _, f := range []struct {
		name   string
		v      *float64
		lo, hi float64
		dst    **float64
	}{
		{"top_p", cr.TopP, 0, 1, &req.TopP},
		{"frequency_penalty", cr.FrequencyPenalty, -2, 2, &req.FrequencyPenalty},
		{"presence_penalty", cr.PresencePenalty, -2, 2, &req.PresencePenalty},
	} {
		if f.v == nil {
			continue
		}
		if *f.v < f.lo || *f.v > f.hi || math.IsNaN(*f.v) {
			return &BadRequestError{Msg: fmt.Sprintf("%s must be between %v and %v, got %v", f.name, f.lo, f.hi, *f.v), Param: f.name}
		}
		*f.dst = f.v
	}
	if cr.N != nil && *cr.N != 1 {
		return &BadRequestError{Msg: fmt.Sprintf("n must be 1, got %d: edgecascade returns one answer per request (send n requests)", *cr.N), Param: "n"}
	}
	if cr.TopLogprobs != nil {
		if *cr.TopLogprobs < 0 || *cr.TopLogprobs > 20 {
			return &BadRequestError{Msg: fmt.Sprintf("top_logprobs must be between 0 and 20, got %d", *cr.TopLogprobs), Param: "top_logprobs"}
		}
		if cr.Logprobs == nil || !*cr.Logprobs {
			return &BadRequestError{Msg: "top_logprobs needs logprobs: true", Param: "top_logprobs"}
		}
		req.TopLogprobs = *cr.TopLogprobs
	}
	if cr.Logprobs != nil && *cr.Logprobs {
		req.Logprobs = true
	}
	tools, err := readTools(cr.Tools, "tools")
	if err != nil {
		return err
	}
	if len(tools) > 0 {
		req.Tools = tools
	}
	if req.ToolChoice, err = openAIToolChoice(cr.ToolChoice, tools); err != nil {
		return err
	}
	req.ParallelToolCalls = cr.ParallelToolCalls
	if rf := cr.ResponseFormat; rf != nil {
		switch rf.Type {
		case "text":
		case "json_object":
			req.Format = &models.Format{}
		case "json_schema":
			if rf.JSONSchema == nil || len(rf.JSONSchema.Schema) == 0 {
				return &BadRequestError{Msg: "response_format json_schema needs json_schema.schema", Param: "response_format.json_schema"}
			}
			f, err := schemaFormat(rf.JSONSchema.Schema, "response_format.json_schema.schema")
			if err != nil {
				return err
			}
			f.Name, f.Description = rf.JSONSchema.Name, rf.JSONSchema.Description
			f.Strict = rf.JSONSchema.Strict != nil && *rf.JSONSchema.Strict
			req.Format = f
		default:
			return &BadRequestError{Msg: fmt.Sprintf("response_format.type %q is not supported (text, json_object, json_schema)", rf.Type), Param: "response_format.type"}
		}
	}
	return nil
}

// schemaFormat checks that a JSON schema compiles.
func schemaFormat(schema json.RawMessage, param string) (*models.Format, error) {
	if err := cascade.CheckSchema(schema); err != nil {
		return nil, &BadRequestError{Msg: fmt.Sprintf("%s is not a usable JSON schema: %v", param, err), Param: param}
	}
	return &models.Format{Schema: schema}, nil
}

// ollamaFormat reads Ollama's format: "json" or a JSON schema.
func ollamaFormat(raw json.RawMessage) (*models.Format, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) || bytes.Equal(raw, []byte(`""`)) {
		return nil, nil
	}
	if bytes.Equal(raw, []byte(`"json"`)) {
		return &models.Format{}, nil
	}
	if raw[0] != '{' {
		return nil, &BadRequestError{Msg: fmt.Sprintf(`format must be "json" or a JSON schema object, got %s`, raw), Param: "format"}
	}
	return schemaFormat(raw, "format")
}

// ollamaLogprobsWanted reads Ollama's logprobs and top_logprobs.
func ollamaLogprobsWanted(want bool, top int, req *cascade.Request) error {
	if top < 0 || top > 20 {
		return &BadRequestError{Msg: fmt.Sprintf("top_logprobs must be between 0 and 20, got %d", top), Param: "top_logprobs"}
	}
	if top > 0 && !want {
		return &BadRequestError{Msg: "top_logprobs needs logprobs: true", Param: "top_logprobs"}
	}
	req.Logprobs, req.TopLogprobs = want, top
	return nil
}
