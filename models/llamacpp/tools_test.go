package llamacpp

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/llamacpp/llamacpptest"
)

// The capabilities come from GET /props: tools when the chat template
// supports tool calls (llama-server with --jinja), vision with a projector;
// an older server that says nothing takes text only.
func TestCapabilitiesFromProps(t *testing.T) {
	for _, tc := range []struct {
		name, props string
		want        []string
	}{
		{"jinja and projector", `{"default_generation_settings":{"n_ctx":4096},"chat_template_caps":{"supports_tools":true,"supports_tool_calls":true},"modalities":{"vision":true,"audio":false}}`,
			[]string{"completion", "tools", "vision"}},
		{"template without tool calls", `{"default_generation_settings":{"n_ctx":4096},"chat_template_caps":{"supports_tools":false,"supports_tool_calls":false},"modalities":{"vision":false}}`,
			[]string{"completion"}},
		{"older server", propsOct2024, []string{"completion"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := llamacpptest.New(t, map[string]llamacpptest.Route{"GET /props": {Status: http.StatusOK, Body: tc.props}})
			caps, err := newClient(t, f.URL, nil).Capabilities(context.Background())
			if err != nil || !reflect.DeepEqual(caps, tc.want) {
				t.Fatalf("capabilities %v, %v; want %v", caps, err, tc.want)
			}
		})
	}
}

// A tool call in llama-server's shape (to_json_oaicompat_chat: content null,
// tool_calls with the arguments as a string; streamed as deltas by index),
// with the logprobs of the tokens it generated.
const (
	toolCallJSON = `{"choices":[{"finish_reason":"tool_calls","index":0,"message":{"role":"assistant","content":null,` +
		`"tool_calls":[{"type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"},"id":"call_abc"}]},` +
		`"logprobs":{"content":[{"id":1,"token":"{\"","bytes":[123,34],"logprob":-0.1,"top_logprobs":[]}]}}],` +
		`"created":1757141666,"model":"tiny","object":"chat.completion","usage":{"completion_tokens":9,"prompt_tokens":30,"total_tokens":39},"id":"chatcmpl-t"}`
	toolStart = `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":""}}]},` +
		`"logprobs":{"content":[{"id":1,"token":"{\"","bytes":[123,34],"logprob":-0.1,"top_logprobs":[]}]}}],"object":"chat.completion.chunk"}`
	toolArgs1 = `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}],"object":"chat.completion.chunk"}`
	toolArgs2 = `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}}],"object":"chat.completion.chunk"}`
	toolStop  = `data: {"choices":[{"finish_reason":"tool_calls","index":0,"delta":{}}],"object":"chat.completion.chunk"}`
)

// Tools, the tool choice, tool turns and images reach llama-server as
// OpenAI names them, and its tool calls come back, streamed and not.
func TestToolsWireFormat(t *testing.T) {
	f := llamacpptest.New(t, map[string]llamacpptest.Route{"POST /v1/chat/completions": {Status: http.StatusOK, Body: toolCallJSON}})
	c := newClient(t, f.URL, nil)
	no := false
	req := models.Request{
		Messages: []models.Message{
			{Role: "user", Content: "Weather here?", Images: []models.Image{{Data: []byte("\x89PNG"), MediaType: "image/png"}}},
			{Role: "assistant", ToolCalls: []models.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Lyon"}`)}}},
			{Role: "tool", Content: "rain", ToolCallID: "call_1", ToolName: "get_weather"},
		},
		Options: models.Options{Tools: []models.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}},
			ToolChoice: &models.ToolChoice{Mode: "function", Name: "get_weather"}, ParallelToolCalls: &no},
	}
	want := []models.ToolCall{{ID: "call_abc", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)}}
	resp, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(resp.ToolCalls, want) || resp.FinishReason != "tool_calls" || len(resp.Tokens) != 1 {
		t.Errorf("answer %+v", resp)
	}
	body := f.Body(t, "POST /v1/chat/completions")
	wantBody := map[string]any{
		"tools":               []any{map[string]any{"type": "function", "function": map[string]any{"name": "get_weather", "parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}},
		"tool_choice":         map[string]any{"type": "function", "function": map[string]any{"name": "get_weather"}},
		"parallel_tool_calls": false,
		"messages": []any{
			map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": "Weather here?"},
				map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64,iVBORw=="}}}},
			map[string]any{"role": "assistant", "content": "", "tool_calls": []any{map[string]any{"id": "call_1", "type": "function",
				"function": map[string]any{"name": "get_weather", "arguments": `{"city":"Lyon"}`}}}},
			map[string]any{"role": "tool", "content": "rain", "tool_call_id": "call_1"},
		},
	}
	for k, v := range wantBody {
		if !reflect.DeepEqual(body[k], v) {
			got, _ := json.Marshal(body[k])
			exp, _ := json.Marshal(v)
			t.Errorf("%s =\n %s\nwant\n %s", k, got, exp)
		}
	}

	fs := llamacpptest.New(t, map[string]llamacpptest.Route{"POST /v1/chat/completions": {Status: http.StatusOK, ContentType: "text/event-stream",
		Body: sse(streamRole, toolStart, toolArgs1, toolArgs2, toolStop, streamUsg, streamDone)}})
	resp, err = newClient(t, fs.URL, nil).ChatStream(context.Background(), req, func(models.Chunk) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(resp.ToolCalls, want) || resp.FinishReason != "tool_calls" || len(resp.Tokens) != 1 {
		t.Errorf("streamed answer %+v", resp)
	}
}
