package anthropic

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/cloud/anthropic/anthropictest"
	"github.com/edgecascade/edgecascade/cloud/cloudtest"
	"github.com/edgecascade/edgecascade/models"
)

// toolConversation is a request with tools, a tool choice and
// parallel_tool_calls, an image, and a tool turn already taken.
func toolConversation(choice *models.ToolChoice, parallel *bool) cloud.Request {
	return cloud.Request{
		Messages: []models.Message{
			{Role: "system", Content: "Be brief."},
			{Role: "user", Content: "Weather where this was taken?", Images: []models.Image{{Data: []byte("\x89PNG"), MediaType: "image/png"}, {URL: "https://example.test/a.jpg"}}},
			{Role: "assistant", Content: "Let me look.", ToolCalls: []models.ToolCall{{ID: "toolu_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)}}},
			{Role: "tool", Content: "sunny", ToolCallID: "toolu_1", ToolName: "get_weather"},
			{Role: "user", Content: "And tomorrow?"},
		},
		Options: models.Options{
			Tools: []models.Tool{{Name: "get_weather", Description: "weather now",
				Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}`)}},
			ToolChoice: choice, ParallelToolCalls: parallel,
		},
	}
}

// Tools go out as Anthropic's tools with input_schema, tool_choice maps
// (required is any, a named function is tool, parallel_tool_calls false is
// disable_parallel_tool_use), tool calls and results are tool_use and
// tool_result blocks, images are image blocks.
func TestToolsWireFormat(t *testing.T) {
	t.Parallel()
	f := anthropictest.New(t, anthropictest.Config{})
	c := newTestClient(t, f.URL, nil)
	no := false
	for _, tc := range []struct {
		choice   *models.ToolChoice
		parallel *bool
		want     any
	}{
		{nil, nil, nil},
		{nil, &no, map[string]any{"type": "auto", "disable_parallel_tool_use": true}},
		{&models.ToolChoice{Mode: "auto"}, nil, map[string]any{"type": "auto"}},
		{&models.ToolChoice{Mode: "none"}, nil, map[string]any{"type": "none"}},
		{&models.ToolChoice{Mode: "required"}, &no, map[string]any{"type": "any", "disable_parallel_tool_use": true}},
		{&models.ToolChoice{Mode: "function", Name: "get_weather"}, nil, map[string]any{"type": "tool", "name": "get_weather"}},
	} {
		if _, err := c.Complete(context.Background(), toolConversation(tc.choice, tc.parallel)); err != nil {
			t.Fatal(err)
		}
		body := lastRequest(f).body
		if !reflect.DeepEqual(body["tool_choice"], tc.want) {
			t.Errorf("tool_choice %#v, want %#v", body["tool_choice"], tc.want)
		}
	}
	body := lastRequest(f).body
	want := map[string]any{
		"tools": []any{map[string]any{"name": "get_weather", "description": "weather now",
			"input_schema": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []any{"city"}, "additionalProperties": false}}},
		"messages": []any{
			map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "image", "source": map[string]any{"type": "base64", "media_type": "image/png", "data": "iVBORw=="}},
				map[string]any{"type": "image", "source": map[string]any{"type": "url", "url": "https://example.test/a.jpg"}},
				map[string]any{"type": "text", "text": "Weather where this was taken?"}}},
			map[string]any{"role": "assistant", "content": []any{
				map[string]any{"type": "text", "text": "Let me look."},
				map[string]any{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": map[string]any{"city": "Paris"}}}},
			map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "tool_result", "tool_use_id": "toolu_1", "is_error": false, "content": []any{map[string]any{"type": "text", "text": "sunny"}}},
				map[string]any{"type": "text", "text": "And tomorrow?"}}},
		},
	}
	for k, v := range want {
		if !reflect.DeepEqual(body[k], v) {
			got, _ := json.Marshal(body[k])
			exp, _ := json.Marshal(v)
			t.Errorf("%s =\n %s\nwant\n %s", k, got, exp)
		}
	}
}

// tool_use blocks come back as tool calls (finish reason tool_calls) from
// a complete answer, and joined from a stream's input_json_delta pieces.
func TestToolCallsBack(t *testing.T) {
	t.Parallel()
	f := anthropictest.New(t, anthropictest.Config{})
	calls := []models.ToolCall{
		{ID: "toolu_a", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)},
		{ID: "toolu_b", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Lyon"}`)},
	}
	f.Set(anthropictest.Fault{Pieces: []string{"Checking."}, ToolCalls: calls})
	c := newTestClient(t, f.URL, nil)
	resp, err := c.Complete(context.Background(), cloudtest.Question())
	if err != nil {
		t.Fatal(err)
	}
	if resp.FinishReason != "tool_calls" || resp.Content != "Checking." || !reflect.DeepEqual(resp.ToolCalls, calls) {
		t.Errorf("complete: %+v", resp)
	}
	var deltas []string
	resp, err = c.Stream(context.Background(), cloudtest.Question(), func(d string) error {
		deltas = append(deltas, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.FinishReason != "tool_calls" || resp.Content != "Checking." || len(deltas) != 1 || !reflect.DeepEqual(resp.ToolCalls, calls) {
		t.Errorf("stream: %+v, deltas %q", resp, deltas)
	}
}
