package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ollama/ollama/api"
	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models/ollama"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

// Tools and images end to end with a real Ollama as the local backend (the
// cloud is the fake, which records what it received). The test bed model
// imported with a template that renders tools reports "tools": the daemon
// sends it the tools and returns the tool call it makes (forced with a JSON
// schema: the tiny model would not call a tool by itself), scored like any
// answer, on both APIs, streamed and not. The plain test bed model does not
// report tools (nor vision): auto sends such requests to the cloud and says
// why, local refuses them with a 400 naming the field.

// realToolDaemon is a daemon on the shared Ollama's model and the fake
// cloud, and the cloud requests it received.
func realToolDaemon(t *testing.T, model string) (*daemon, func() []cloud.Request) {
	t.Helper()
	s := needBed(t)
	local, err := ollama.New(ollama.Config{URL: s.URL, Model: model, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c := fakeCloud()
	var mu sync.Mutex
	var got []cloud.Request
	ans := c.Answer
	c.CompleteFunc = func(_ context.Context, req cloud.Request) (*cloud.Response, error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, req)
		resp := ans
		return &resp, nil
	}
	return newFakeDaemon(t, daemonOpts{local: local, cloud: c}), func() []cloud.Request {
		mu.Lock()
		defer mu.Unlock()
		return append([]cloud.Request(nil), got...)
	}
}

// callSchema makes the model write {"name":"get_weather","arguments":{"city":"Paris"}},
// which Ollama parses as a tool call.
var callSchema = map[string]any{"type": "object", "required": []string{"name", "arguments"}, "properties": map[string]any{
	"name":      map[string]any{"type": "string", "enum": []string{"get_weather"}},
	"arguments": map[string]any{"type": "object", "required": []string{"city"}, "properties": map[string]any{"city": map[string]any{"type": "string", "enum": []string{"Paris"}}}},
}}

func TestToolsRealOllama(t *testing.T) {
	d, _ := realToolDaemon(t, ollamatest.WeakTools)
	ctx := context.Background()
	client := oai.NewClient(option.WithBaseURL(d.URL+"/v1"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	for _, model := range []string{"local", "auto"} {
		params := oai.ChatCompletionNewParams{Model: model, Tools: []oai.ChatCompletionToolUnionParam{weatherTool},
			Messages:            []oai.ChatCompletionMessageParamUnion{oai.UserMessage("Weather in Paris?")},
			MaxCompletionTokens: oai.Int(160), Temperature: oai.Float(0),
			ResponseFormat: oai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &oai.ResponseFormatJSONSchemaParam{
				JSONSchema: oai.ResponseFormatJSONSchemaJSONSchemaParam{Name: "call", Schema: callSchema}}}}
		var raw *http.Response
		resp, err := client.Chat.Completions.New(ctx, params, option.WithResponseInto(&raw))
		if err != nil {
			t.Fatal(err)
		}
		m := resp.Choices[0].Message
		if resp.Choices[0].FinishReason != "tool_calls" || len(m.ToolCalls) != 1 || m.ToolCalls[0].Function.Name != "get_weather" ||
			m.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` || m.ToolCalls[0].ID == "" {
			t.Fatalf("%s: %s", model, resp.RawJSON())
		}
		if raw.Header.Get("X-Cascade-Route") != "local" || raw.Header.Get("X-Cascade-Confidence") == "" {
			t.Errorf("%s: route %q confidence %q: want a scored local answer", model, raw.Header.Get("X-Cascade-Route"), raw.Header.Get("X-Cascade-Confidence"))
		}

		stream := client.Chat.Completions.NewStreaming(ctx, params)
		acc := oai.ChatCompletionAccumulator{}
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if sm := acc.Choices[0].Message; acc.Choices[0].FinishReason != "tool_calls" || len(sm.ToolCalls) != 1 || sm.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` {
			t.Errorf("%s stream: %+v", model, acc.Choices[0])
		}
	}

	// Ollama's API, with Ollama's official client.
	u, _ := url.Parse(d.URL)
	oc := api.NewClient(u, http.DefaultClient)
	var tool api.Tool
	if err := json.Unmarshal([]byte(`{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}`), &tool); err != nil {
		t.Fatal(err)
	}
	format, _ := json.Marshal(callSchema)
	for _, streamed := range []bool{false, true} {
		var calls []api.ToolCall
		err := oc.Chat(ctx, &api.ChatRequest{Model: "local", Stream: &streamed, Tools: api.Tools{tool}, Format: format,
			Options:  map[string]any{"temperature": 0, "num_predict": 160},
			Messages: []api.Message{{Role: "user", Content: "Weather in Paris?"}}}, func(r api.ChatResponse) error {
			calls = append(calls, r.Message.ToolCalls...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 1 || calls[0].Function.Name != "get_weather" {
			t.Fatalf("/api/chat stream %v: tool calls %+v", streamed, calls)
		}
	}
}

func TestToolsRealOllamaWithoutTools(t *testing.T) {
	d, sent := realToolDaemon(t, ollamatest.Weak)
	tools := []map[string]any{{"type": "function", "function": map[string]any{"name": "get_weather"}}}
	image := []map[string]any{{"role": "user", "content": []any{map[string]any{"type": "text", "text": "what is it?"},
		map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64,iVBORw0KGgo="}}}}}
	for _, tc := range []struct {
		name, field, capability string
		body                    map[string]any
	}{
		{"tools", "tools", "tools", map[string]any{"messages": []map[string]any{{"role": "user", "content": "Weather in Paris?"}}, "tools": tools}},
		{"image", "images", "vision", map[string]any{"messages": image}},
	} {
		tc.body["model"] = "auto"
		resp, raw := post(t, d.URL+"/v1/chat/completions", tc.body)
		want := `does not support (its backend does not report \"` + tc.capability + `\"); sent to the cloud`
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Cascade-Route") != "cloud" || !strings.Contains(string(raw), want) {
			t.Errorf("%s, auto: status %d route %q: %s; want the cloud, saying why", tc.name, resp.StatusCode, resp.Header.Get("X-Cascade-Route"), raw)
		}
		if got := sent(); len(got) == 0 || (tc.name == "tools" && len(got[len(got)-1].Tools) != 1) || (tc.name == "image" && len(got[len(got)-1].Messages[0].Images) != 1) {
			t.Errorf("%s: the cloud received %+v", tc.name, got)
		}
		tc.body["model"] = "local"
		resp, raw = post(t, d.URL+"/v1/chat/completions", tc.body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), `"param":"`+tc.field+`"`) {
			t.Errorf("%s, local: status %d: %s; want 400 naming %s", tc.name, resp.StatusCode, raw, tc.field)
		}
	}
}
