package openai

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/edgecascade/edgecascade/models"
)

// Tools and images on OpenAI's wire: function tools, tool_choice,
// parallel_tool_calls; assistant tool_calls and tool messages; image_url
// content parts (data URLs for image bytes). Tool calls come back in
// choices[].message.tool_calls, or streamed as deltas by index whose
// arguments arrive in pieces (toolCallAcc joins them).

// setTools passes the request's tools, tool choice and parallel tool calls.
func setTools(p *openai.ChatCompletionNewParams, o models.Options) error {
	for _, t := range o.Tools {
		fd := shared.FunctionDefinitionParam{Name: t.Name}
		if t.Description != "" {
			fd.Description = openai.String(t.Description)
		}
		if t.Strict {
			fd.Strict = openai.Bool(true)
		}
		if len(t.Parameters) > 0 {
			if err := json.Unmarshal(t.Parameters, &fd.Parameters); err != nil {
				return fmt.Errorf("tool %s: parameters: %w", t.Name, err)
			}
		}
		p.Tools = append(p.Tools, openai.ChatCompletionFunctionTool(fd))
	}
	if tc := o.ToolChoice; tc != nil {
		if tc.Mode == models.ToolChoiceFunction {
			p.ToolChoice = openai.ToolChoiceOptionFunctionToolChoice(openai.ChatCompletionNamedToolChoiceFunctionParam{Name: tc.Name})
		} else {
			p.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String(tc.Mode)}
		}
	}
	if o.ParallelToolCalls != nil && len(o.Tools) > 0 {
		p.ParallelToolCalls = openai.Bool(*o.ParallelToolCalls)
	}
	return nil
}

// userMessage is a user message, with its images as image_url parts.
func userMessage(m models.Message) openai.ChatCompletionMessageParamUnion {
	if len(m.Images) == 0 {
		return openai.UserMessage(m.Content)
	}
	parts := []openai.ChatCompletionContentPartUnionParam{}
	if m.Content != "" {
		parts = append(parts, openai.TextContentPart(m.Content))
	}
	for _, im := range m.Images {
		u := im.URL
		if u == "" {
			u = "data:" + im.MediaType + ";base64," + base64.StdEncoding.EncodeToString(im.Data)
		}
		parts = append(parts, openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: u}))
	}
	return openai.UserMessage(parts)
}

// assistantMessage is an assistant message with its tool calls.
func assistantMessage(m models.Message) openai.ChatCompletionMessageParamUnion {
	if len(m.ToolCalls) == 0 {
		return openai.AssistantMessage(m.Content)
	}
	a := openai.ChatCompletionAssistantMessageParam{}
	if m.Content != "" {
		a.Content.OfString = openai.String(m.Content)
	}
	for _, tc := range m.ToolCalls {
		args := string(tc.Arguments)
		if args == "" {
			args = "{}"
		}
		a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
			ID: tc.ID, Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: tc.Name, Arguments: args}}})
	}
	return openai.ChatCompletionMessageParamUnion{OfAssistant: &a}
}

// toolCalls converts a complete answer's function tool calls.
func toolCalls(in []openai.ChatCompletionMessageToolCallUnion) []models.ToolCall {
	var out []models.ToolCall
	for _, tc := range in {
		if tc.Type != "" && tc.Type != "function" {
			continue
		}
		out = append(out, models.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: arguments(tc.Function.Arguments)})
	}
	return out
}

// arguments is a call's arguments as JSON: "{}" when empty; a string that
// is not JSON is kept as a JSON string (the model's mistake, passed on).
func arguments(s string) json.RawMessage {
	if s == "" {
		return json.RawMessage("{}")
	}
	if !json.Valid([]byte(s)) {
		b, _ := json.Marshal(s)
		return b
	}
	return json.RawMessage(s)
}

// toolCallAcc joins streamed tool-call deltas: the first delta of a call
// carries its index, id and name, the next ones pieces of its arguments.
type toolCallAcc struct {
	calls map[int64]*partialCall
}

// partialCall is a streamed tool call so far.
type partialCall struct {
	id, name string
	args     []byte
}

func (a *toolCallAcc) add(deltas []openai.ChatCompletionChunkChoiceDeltaToolCall) {
	for _, d := range deltas {
		if a.calls == nil {
			a.calls = map[int64]*partialCall{}
		}
		c := a.calls[d.Index]
		if c == nil {
			c = &partialCall{}
			a.calls[d.Index] = c
		}
		if d.ID != "" {
			c.id = d.ID
		}
		if d.Function.Name != "" {
			c.name = d.Function.Name
		}
		c.args = append(c.args, d.Function.Arguments...)
	}
}

// result is the joined calls, in index order; nil when none.
func (a *toolCallAcc) result() []models.ToolCall {
	if len(a.calls) == 0 {
		return nil
	}
	idx := make([]int64, 0, len(a.calls))
	for i := range a.calls {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	out := make([]models.ToolCall, 0, len(idx))
	for _, i := range idx {
		c := a.calls[i]
		out = append(out, models.ToolCall{ID: c.id, Name: c.name, Arguments: arguments(string(c.args))})
	}
	return out
}
