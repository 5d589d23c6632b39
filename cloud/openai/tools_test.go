package openai

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/cloud/cloudtest"
	"github.com/edgecascade/edgecascade/cloud/openai/openaitest"
	"github.com/edgecascade/edgecascade/models"
)

// toolConversation is a request with tools, a tool choice and
// parallel_tool_calls, an image, and a tool turn already taken.
func toolConversation(choice *models.ToolChoice) cloud.Request {
	no := false
	return cloud.Request{
		Messages: []models.Message{
			{Role: "user", Content: "Weather where this was taken?", Images: []models.Image{{Data: []byte("\x89PNG"), MediaType: "image/png"}, {URL: "https://example.test/a.jpg"}}},
			{Role: "assistant", ToolCalls: []models.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)}}},
			{Role: "tool", Content: "sunny", ToolCallID: "call_1", ToolName: "get_weather"},
		},
		Options: models.Options{
			Tools: []models.Tool{{Name: "get_weather", Description: "weather now", Strict: true,
				Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}`)}},
			ToolChoice: choice, ParallelToolCalls: &no,
		},
	}
}

// The tools, the tool choice and the conversation's tool turns and images
// reach the server as OpenAI's chat completions API names them.
func TestToolsWireFormat(t *testing.T) {
	t.Parallel()
	f := openaitest.New(t, openaitest.Config{})
	c := newTestClient(t, f.URL, nil)
	for _, tc := range []struct {
		choice *models.ToolChoice
		want   any
	}{
		{nil, nil},
		{&models.ToolChoice{Mode: "auto"}, "auto"},
		{&models.ToolChoice{Mode: "none"}, "none"},
		{&models.ToolChoice{Mode: "required"}, "required"},
		{&models.ToolChoice{Mode: "function", Name: "get_weather"}, map[string]any{"type": "function", "function": map[string]any{"name": "get_weather"}}},
	} {
		if _, err := c.Complete(context.Background(), toolConversation(tc.choice)); err != nil {
			t.Fatal(err)
		}
		body, _, _ := last(f)
		if !reflect.DeepEqual(body["tool_choice"], tc.want) {
			t.Errorf("tool_choice %#v, want %#v", body["tool_choice"], tc.want)
		}
	}
	body, _, _ := last(f)
	want := map[string]any{
		"parallel_tool_calls": false,
		"tools": []any{map[string]any{"type": "function", "function": map[string]any{"name": "get_weather", "description": "weather now", "strict": true,
			"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []any{"city"}, "additionalProperties": false}}}},
		"messages": []any{
			map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "text", "text": "Weather where this was taken?"},
				map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64,iVBORw=="}},
				map[string]any{"type": "image_url", "image_url": map[string]any{"url": "https://example.test/a.jpg"}}}},
			map[string]any{"role": "assistant", "tool_calls": []any{map[string]any{"id": "call_1", "type": "function",
				"function": map[string]any{"name": "get_weather", "arguments": `{"city":"Paris"}`}}}},
			map[string]any{"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
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

// Tool calls come back from a complete answer and joined from a stream's
// deltas, whose arguments arrive in pieces (several calls, by index).
func TestToolCallsBack(t *testing.T) {
	t.Parallel()
	f := openaitest.New(t, openaitest.Config{})
	calls := []models.ToolCall{
		{ID: "call_a", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)},
		{ID: "call_b", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Lyon"}`)},
	}
	f.Set(openaitest.Fault{Pieces: []string{""}, ToolCalls: calls})
	c := newTestClient(t, f.URL, nil)
	resp, err := c.Complete(context.Background(), cloudtest.Question())
	if err != nil {
		t.Fatal(err)
	}
	if resp.FinishReason != "tool_calls" || resp.Content != "" || !reflect.DeepEqual(resp.ToolCalls, calls) {
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
	if resp.FinishReason != "tool_calls" || len(deltas) != 0 || !reflect.DeepEqual(resp.ToolCalls, calls) {
		t.Errorf("stream: %+v, deltas %q", resp, deltas)
	}
}
