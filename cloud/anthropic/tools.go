package anthropic

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/edgecascade/edgecascade/models"
)

// Tools and images on the Messages API
// (https://docs.anthropic.com/en/docs/build-with-claude/tool-use): tools
// are {name, description, input_schema}; tool_choice auto, any (OpenAI's
// required), tool (one named tool) or none, with disable_parallel_tool_use
// for parallel_tool_calls false; an assistant's tool calls are tool_use
// blocks, a tool message is a tool_result block in a user turn, images are
// image blocks (base64 with their media type, or a URL). Answers' tool_use
// blocks are the tool calls; a stream sends their input as input_json_delta
// pieces.

// setTools passes the request's tools and tool choice.
func setTools(p *anthropic.MessageNewParams, o models.Options) error {
	for _, t := range o.Tools {
		schema, err := inputSchema(t.Parameters)
		if err != nil {
			return fmt.Errorf("tool %s: parameters: %w", t.Name, err)
		}
		tool := anthropic.ToolUnionParamOfTool(schema, t.Name)
		if t.Description != "" {
			tool.OfTool.Description = anthropic.String(t.Description)
		}
		if t.Strict {
			tool.OfTool.Strict = anthropic.Bool(true)
		}
		p.Tools = append(p.Tools, tool)
	}
	if len(o.Tools) == 0 {
		return nil
	}
	noParallel := o.ParallelToolCalls != nil && !*o.ParallelToolCalls
	mode := models.ToolChoiceAuto
	if o.ToolChoice != nil {
		mode = o.ToolChoice.Mode
	}
	switch mode {
	case models.ToolChoiceNone:
		none := anthropic.NewToolChoiceNoneParam()
		p.ToolChoice = anthropic.ToolChoiceUnionParam{OfNone: &none}
	case models.ToolChoiceRequired:
		c := &anthropic.ToolChoiceAnyParam{}
		if noParallel {
			c.DisableParallelToolUse = anthropic.Bool(true)
		}
		p.ToolChoice = anthropic.ToolChoiceUnionParam{OfAny: c}
	case models.ToolChoiceFunction:
		c := &anthropic.ToolChoiceToolParam{Name: o.ToolChoice.Name}
		if noParallel {
			c.DisableParallelToolUse = anthropic.Bool(true)
		}
		p.ToolChoice = anthropic.ToolChoiceUnionParam{OfTool: c}
	default: // auto: sent only when it says something
		if o.ToolChoice != nil || noParallel {
			c := &anthropic.ToolChoiceAutoParam{}
			if noParallel {
				c.DisableParallelToolUse = anthropic.Bool(true)
			}
			p.ToolChoice = anthropic.ToolChoiceUnionParam{OfAuto: c}
		}
	}
	return nil
}

// inputSchema is a tool's parameters as input_schema: an object schema
// whose properties and required go in their fields and every other keyword
// along with them.
func inputSchema(params json.RawMessage) (anthropic.ToolInputSchemaParam, error) {
	var s anthropic.ToolInputSchemaParam
	if len(params) == 0 {
		s.Properties = map[string]any{}
		return s, nil
	}
	var m map[string]any
	if err := json.Unmarshal(params, &m); err != nil {
		return s, err
	}
	if t, ok := m["type"]; ok && t != "object" {
		return s, fmt.Errorf("type %v: input_schema must be an object schema", t)
	}
	s.Properties = m["properties"]
	if s.Properties == nil {
		s.Properties = map[string]any{}
	}
	if req, ok := m["required"].([]any); ok {
		for _, r := range req {
			if name, ok := r.(string); ok {
				s.Required = append(s.Required, name)
			}
		}
	}
	for k, v := range m {
		if k != "type" && k != "properties" && k != "required" {
			if s.ExtraFields == nil {
				s.ExtraFields = map[string]any{}
			}
			s.ExtraFields[k] = v
		}
	}
	return s, nil
}

// imageBlocks are a message's images as image blocks.
func imageBlocks(imgs []models.Image) []anthropic.ContentBlockParamUnion {
	out := make([]anthropic.ContentBlockParamUnion, len(imgs))
	for i, im := range imgs {
		if im.URL != "" {
			out[i] = anthropic.NewImageBlock(anthropic.URLImageSourceParam{URL: im.URL})
			continue
		}
		out[i] = anthropic.NewImageBlockBase64(im.MediaType, base64.StdEncoding.EncodeToString(im.Data))
	}
	return out
}

// toolUseBlocks are an assistant's tool calls as tool_use blocks.
func toolUseBlocks(calls []models.ToolCall) []anthropic.ContentBlockParamUnion {
	out := make([]anthropic.ContentBlockParamUnion, len(calls))
	for i, c := range calls {
		input := c.Arguments
		if len(input) == 0 {
			input = json.RawMessage("{}")
		}
		out[i] = anthropic.NewToolUseBlock(c.ID, input, c.Name)
	}
	return out
}

// toolInput is a tool_use block's input: "{}" when empty.
func toolInput(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("{}")
	}
	return json.RawMessage(b)
}

// toolUseAcc joins a stream's tool_use blocks by their index: the block's
// start names the call, input_json_delta events carry its input in pieces.
type toolUseAcc map[int64]*models.ToolCall

func (a toolUseAcc) start(index int64, id, name string) {
	a[index] = &models.ToolCall{ID: id, Name: name}
}

func (a toolUseAcc) add(index int64, partial string) {
	if c := a[index]; c != nil {
		c.Arguments = append(c.Arguments, partial...)
	}
}

// result is the calls in block order; nil when none.
func (a toolUseAcc) result() []models.ToolCall {
	if len(a) == 0 {
		return nil
	}
	idx := make([]int64, 0, len(a))
	for i := range a {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	out := make([]models.ToolCall, len(idx))
	for k, i := range idx {
		out[k] = *a[i]
		out[k].Arguments = toolInput(out[k].Arguments)
	}
	return out
}
