package httpapi_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"
	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/mock"
)

// Tools end to end through the HTTP APIs on the fakes: the official OpenAI
// and Ollama Go clients send tools and read the tool calls back, streamed
// and not, from the local model (when it reports tool support) and from the
// cloud; the routing rule is TestToolAndImageRouting's.

// toolDaemon is a daemon whose local model reports caps and calls
// get_weather whenever it is offered tools, as the cloud does.
func toolDaemon(t *testing.T, caps ...string) (*daemon, *mock.Model) {
	t.Helper()
	l := fakeLocal()
	l.Caps = caps
	plain := l.Answer
	l.ChatFunc = func(_ context.Context, req models.Request) (*models.Response, error) {
		resp := plain
		if len(req.Tools) > 0 {
			// The call's tokens are what the model generated: they are
			// scored like any answer's.
			call := `{"name":"get_weather","arguments":{"city":"Paris"}}`
			resp = models.Response{Tokens: mock.Tokens(call, math.Log(fakeScore)), PromptTokens: 7, CompletionTokens: len(call), FinishReason: "stop",
				ToolCalls: []models.ToolCall{{ID: "call_local", Name: req.Tools[0].Name, Arguments: json.RawMessage(`{"city":"Paris"}`)}}}
		}
		return &resp, nil
	}
	c := fakeCloud()
	c.Answer.ToolCalls = []models.ToolCall{{ID: "call_cloud", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)}}
	c.Answer.Content, c.Answer.FinishReason = "", "tool_calls"
	return newFakeDaemon(t, daemonOpts{local: l, cloud: c}), l
}

var weatherTool = oai.ChatCompletionFunctionTool(oai.FunctionDefinitionParam{Name: "get_weather",
	Parameters: oai.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}})

func TestOpenAIToolCalls(t *testing.T) {
	d, _ := toolDaemon(t, "completion", "tools")
	client := oai.NewClient(option.WithBaseURL(d.URL+"/v1"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	ctx := context.Background()
	for _, tc := range []struct{ model, route, id string }{{"local", "local", "call_local"}, {"auto", "local", "call_local"}, {"cloud", "cloud", "call_cloud"}} {
		t.Run(tc.model, func(t *testing.T) {
			params := oai.ChatCompletionNewParams{Model: tc.model, Tools: []oai.ChatCompletionToolUnionParam{weatherTool},
				Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("Weather in Paris?")}}
			var raw *http.Response
			resp, err := client.Chat.Completions.New(ctx, params, option.WithResponseInto(&raw))
			if err != nil {
				t.Fatal(err)
			}
			checkOpenAICall(t, resp.Choices[0].Message, string(resp.Choices[0].FinishReason), tc.id)
			if got := raw.Header.Get("X-Cascade-Route"); got != tc.route {
				t.Errorf("route %s, want %s", got, tc.route)
			}
			if tc.route == "local" && raw.Header.Get("X-Cascade-Confidence") == "" {
				t.Error("a local tool call has no confidence: it must be scored like any answer")
			}

			stream := client.Chat.Completions.NewStreaming(ctx, params)
			acc := oai.ChatCompletionAccumulator{}
			deltas := 0
			for stream.Next() {
				ch := stream.Current()
				if !acc.AddChunk(ch) {
					t.Fatalf("accumulator refused chunk %s", ch.RawJSON())
				}
				if len(ch.Choices) > 0 && len(ch.Choices[0].Delta.ToolCalls) > 0 {
					deltas++
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if deltas == 0 {
				t.Fatal("no tool-call delta streamed")
			}
			checkOpenAICall(t, acc.Choices[0].Message, string(acc.Choices[0].FinishReason), tc.id)
		})
	}
}

func checkOpenAICall(t *testing.T, m oai.ChatCompletionMessage, finish, id string) {
	t.Helper()
	if finish != "tool_calls" || len(m.ToolCalls) != 1 {
		t.Fatalf("finish %q, message %s: want one tool call", finish, m.RawJSON())
	}
	tc := m.ToolCalls[0]
	if tc.ID != id || tc.Function.Name != "get_weather" || tc.Function.Arguments != `{"city":"Paris"}` || tc.Type != "function" {
		t.Errorf("tool call %+v", tc)
	}
}

func TestOllamaToolCalls(t *testing.T) {
	d, _ := toolDaemon(t, "completion", "tools")
	u, err := url.Parse(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	client := api.NewClient(u, http.DefaultClient)
	var tool api.Tool
	if err := json.Unmarshal([]byte(`{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}`), &tool); err != nil {
		t.Fatal(err)
	}
	for _, model := range []string{"local", "cloud"} {
		for _, stream := range []bool{false, true} {
			var calls []api.ToolCall
			err := client.Chat(context.Background(), &api.ChatRequest{Model: model, Stream: &stream, Tools: api.Tools{tool},
				Messages: []api.Message{{Role: "user", Content: "Weather in Paris?"}}}, func(r api.ChatResponse) error {
				calls = append(calls, r.Message.ToolCalls...)
				return nil
			})
			if err != nil {
				t.Fatalf("%s stream %v: %v", model, stream, err)
			}
			if len(calls) != 1 || calls[0].Function.Name != "get_weather" {
				t.Fatalf("%s stream %v: tool calls %+v", model, stream, calls)
			}
			if city, _ := calls[0].Function.Arguments.Get("city"); city != "Paris" {
				t.Errorf("%s stream %v: arguments %v", model, stream, calls[0].Function.Arguments)
			}
		}
	}
}

// The routing rule: the local model answers tools (images) only when it
// reports "tools" ("vision"); otherwise auto goes to the cloud and says
// why, and local is refused with a 400 naming tools (images).
func TestToolAndImageRouting(t *testing.T) {
	tools := []map[string]any{{"type": "function", "function": map[string]any{"name": "get_weather"}}}
	image := []map[string]any{{"role": "user", "content": []any{map[string]any{"type": "text", "text": "what is it?"},
		map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64,iVBORw0KGgo="}}}}}
	plain := []map[string]any{{"role": "user", "content": "Weather in Paris?"}}
	for _, tc := range []struct {
		name     string
		caps     []string
		messages []map[string]any
		tools    bool
		// want: the route of auto; refused names the field local refuses
		// ("" when local answers).
		route, reason, refused string
	}{
		{name: "tools, local has tools", caps: []string{"tools"}, messages: plain, tools: true, route: "local"},
		{name: "tools, local without tools", caps: []string{"completion"}, messages: plain, tools: true, route: "cloud",
			reason: `the request has tools, which the local model fake-local does not support (its backend does not report "tools"); sent to the cloud`, refused: "tools"},
		{name: "image, local has vision", caps: []string{"vision"}, messages: image, route: "local"},
		{name: "image, local without vision", caps: []string{"tools"}, messages: image, route: "cloud",
			reason: `the request has images, which the local model fake-local does not support (its backend does not report "vision"); sent to the cloud`, refused: "images"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, l := toolDaemon(t, tc.caps...)
			body := map[string]any{"model": "auto", "messages": tc.messages}
			if tc.tools {
				body["tools"] = tools
			}
			for _, stream := range []bool{false, true} {
				body["stream"] = stream
				resp, raw := post(t, d.URL+"/v1/chat/completions", body)
				if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Cascade-Route") != tc.route {
					t.Fatalf("auto stream %v: status %d route %q, want %s: %s", stream, resp.StatusCode, resp.Header.Get("X-Cascade-Route"), tc.route, raw)
				}
				if tc.reason != "" && !strings.Contains(string(raw), jsonText(tc.reason)) {
					t.Errorf("auto stream %v: reason missing %q: %s", stream, tc.reason, raw)
				}
			}
			calls := l.Calls()
			body["model"], body["stream"] = "local", false
			resp, raw := post(t, d.URL+"/v1/chat/completions", body)
			if tc.refused == "" {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("local: status %d: %s", resp.StatusCode, raw)
				}
				return
			}
			var e struct {
				Error struct {
					Param string `json:"param"`
				} `json:"error"`
			}
			_ = json.Unmarshal(raw, &e)
			if resp.StatusCode != http.StatusBadRequest || e.Error.Param != tc.refused || l.Calls() != calls {
				t.Errorf("local: status %d param %q, local calls %d (was %d): %s; want 400 naming %s, no local call",
					resp.StatusCode, e.Error.Param, l.Calls(), calls, raw, tc.refused)
			}
			// Ollama's API says the same in its own error shape.
			ob := map[string]any{"model": "local", "stream": false, "messages": []map[string]any{{"role": "user", "content": "q", "images": []string{"iVBORw0KGgo="}}}}
			if tc.tools {
				ob = map[string]any{"model": "local", "stream": false, "messages": plain, "tools": tools}
			}
			resp, raw = post(t, d.URL+"/api/chat", ob)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), tc.refused) {
				t.Errorf("/api/chat local: status %d: %s; want 400 naming %s", resp.StatusCode, raw, tc.refused)
			}
		})
	}
}

// jsonText is s as it appears inside a JSON string.
func jsonText(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// The cloud receives the tools, the tool choice and the conversation's
// tool turns as the client sent them.
func TestToolsReachTheCloud(t *testing.T) {
	d, _ := toolDaemon(t)
	var got cloud.Request
	d.fake.CompleteFunc = func(_ context.Context, req cloud.Request) (*cloud.Response, error) {
		got = req
		return &cloud.Response{Content: "It is sunny.", FinishReason: "stop"}, nil
	}
	resp, raw := post(t, d.URL+"/v1/chat/completions", map[string]any{"model": "auto", "tool_choice": "required", "parallel_tool_calls": false,
		"tools": []map[string]any{{"type": "function", "function": map[string]any{"name": "get_weather"}}},
		"messages": []map[string]any{{"role": "user", "content": "Weather?"},
			{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{"id": "c1", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": "{}"}}}},
			{"role": "tool", "tool_call_id": "c1", "content": "sunny"}}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	if len(got.Tools) != 1 || got.ToolChoice == nil || got.ToolChoice.Mode != "required" || got.ParallelToolCalls == nil || *got.ParallelToolCalls ||
		len(got.Messages) != 3 || got.Messages[1].ToolCalls[0].ID != "c1" || got.Messages[2].ToolCallID != "c1" || got.Messages[2].ToolName != "get_weather" {
		t.Errorf("the cloud received %+v", got)
	}
}
