package llamacpp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sort"

	"github.com/edgecascade/edgecascade/models"
)

// Tools and images on llama-server's OpenAI-compatible
// /v1/chat/completions: function tools, tool_choice, parallel_tool_calls,
// assistant tool_calls and tool messages, image_url parts; tool calls come
// back in choices[].message.tool_calls, or as deltas by index whose
// arguments arrive in pieces. llama-server takes tools when it runs with
// --jinja and the model's template renders them, and images with a
// multimodal projector (--mmproj): GET /props says so
// (chat_template_caps.supports_tool_calls, modalities.vision), and
// Capabilities reports it, so the cascade sends tools and images only to a
// server that takes them.

var _ models.Capabler = (*Client)(nil)

// Capabilities are "completion", with "tools" when the server's /props
// says its chat template supports tool calls and "vision" when it has a
// vision projector.
func (c *Client) Capabilities(ctx context.Context) ([]string, error) {
	p, err := c.Props(ctx)
	if err != nil {
		return nil, err
	}
	caps := []string{"completion"}
	if p.Tools {
		caps = append(caps, models.CapabilityTools)
	}
	if p.Vision {
		caps = append(caps, models.CapabilityVision)
	}
	return caps, nil
}

// wireMessage is a chat message on OpenAI's wire: content a string, or
// text and image_url parts when it has images.
type wireMessage struct {
	Role       string         `json:"role"`
	Content    any            `json:"content"`
	ToolCalls  []wireToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type wireToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type wireTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
		Strict      bool            `json:"strict,omitempty"`
	} `json:"function"`
}

// wireMessages converts the conversation to OpenAI's wire.
func wireMessages(in []models.Message) []wireMessage {
	out := make([]wireMessage, len(in))
	for i, m := range in {
		w := wireMessage{Role: m.Role, Content: m.Content, ToolCallID: m.ToolCallID}
		if len(m.Images) > 0 {
			parts := []map[string]any{}
			if m.Content != "" {
				parts = append(parts, map[string]any{"type": "text", "text": m.Content})
			}
			for _, im := range m.Images {
				u := im.URL
				if u == "" {
					u = "data:" + im.MediaType + ";base64," + base64.StdEncoding.EncodeToString(im.Data)
				}
				parts = append(parts, map[string]any{"type": "image_url", "image_url": map[string]any{"url": u}})
			}
			w.Content = parts
		}
		for _, tc := range m.ToolCalls {
			wc := wireToolCall{ID: tc.ID, Type: "function"}
			wc.Function.Name, wc.Function.Arguments = tc.Name, string(tc.Arguments)
			if wc.Function.Arguments == "" {
				wc.Function.Arguments = "{}"
			}
			w.ToolCalls = append(w.ToolCalls, wc)
		}
		out[i] = w
	}
	return out
}

// setTools puts the request's tools, tool choice and parallel tool calls
// into the body.
func setTools(body *chatRequest, o models.Options) {
	for _, t := range o.Tools {
		var w wireTool
		w.Type = "function"
		w.Function.Name, w.Function.Description, w.Function.Parameters, w.Function.Strict = t.Name, t.Description, t.Parameters, t.Strict
		body.Tools = append(body.Tools, w)
	}
	if tc := o.ToolChoice; tc != nil {
		if tc.Mode == models.ToolChoiceFunction {
			body.ToolChoice = map[string]any{"type": "function", "function": map[string]any{"name": tc.Name}}
		} else {
			body.ToolChoice = tc.Mode
		}
	}
	if len(o.Tools) > 0 {
		body.ParallelToolCalls = o.ParallelToolCalls
	}
}

// toolCallAcc joins the tool calls of an answer or of a stream's deltas.
type toolCallAcc map[int]*models.ToolCall

func (a toolCallAcc) add(calls []wireToolCall) {
	for i, c := range calls {
		idx := i
		if c.Index != nil {
			idx = *c.Index
		}
		tc := a[idx]
		if tc == nil {
			tc = &models.ToolCall{}
			a[idx] = tc
		}
		if c.ID != "" {
			tc.ID = c.ID
		}
		if c.Function.Name != "" {
			tc.Name = c.Function.Name
		}
		tc.Arguments = append(tc.Arguments, c.Function.Arguments...)
	}
}

// result is the calls in index order; nil when none.
func (a toolCallAcc) result() []models.ToolCall {
	if len(a) == 0 {
		return nil
	}
	idx := make([]int, 0, len(a))
	for i := range a {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	out := make([]models.ToolCall, len(idx))
	for k, i := range idx {
		out[k] = *a[i]
		if len(out[k].Arguments) == 0 || !json.Valid(out[k].Arguments) {
			if len(out[k].Arguments) == 0 {
				out[k].Arguments = json.RawMessage("{}")
			} else {
				b, _ := json.Marshal(string(out[k].Arguments))
				out[k].Arguments = b
			}
		}
	}
	return out
}
