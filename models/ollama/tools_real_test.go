package ollama_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/ollama"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

// TestToolsReal checks the tool plumbing against a real Ollama. The test
// bed model imported with a template that renders tools reports "tools";
// the plain one does not, and neither has "vision". Tools and a tool turn
// reach the model (its template renders them into the prompt, which grows);
// a tool call comes back when the model writes one (here forced with a
// format, since the tiny model would not), with its arguments and an ID,
// streamed and not.
func TestToolsReal(t *testing.T) {
	s := ollamatest.New(t, ollamatest.Weak, ollamatest.WeakTools)
	ctx := context.Background()
	plain, err := ollama.New(ollama.Config{URL: s.URL, Model: ollamatest.Weak})
	if err != nil {
		t.Fatal(err)
	}
	tools, err := ollama.New(ollama.Config{URL: s.URL, Model: ollamatest.WeakTools})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := plain.Capabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := tools.Capabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(pc, models.CapabilityTools) || !slices.Contains(tc, models.CapabilityTools) ||
		slices.Contains(pc, models.CapabilityVision) || slices.Contains(tc, models.CapabilityVision) {
		t.Fatalf("capabilities: plain %v, tools template %v; want tools for the second only, vision for neither", pc, tc)
	}

	zero := 0.0
	q := []models.Message{{Role: "user", Content: "Weather in Paris?"}}
	weather := []models.Tool{{Name: "get_weather", Description: "Current weather in a city",
		Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}}
	bare, err := tools.Chat(ctx, models.Request{Messages: q, MaxTokens: 4, Temperature: &zero})
	if err != nil {
		t.Fatal(err)
	}
	with, err := tools.Chat(ctx, models.Request{Messages: q, MaxTokens: 4, Temperature: &zero, Options: models.Options{Tools: weather}})
	if err != nil {
		t.Fatal(err)
	}
	if with.PromptTokens <= bare.PromptTokens+5 {
		t.Errorf("prompt tokens %d with tools, %d without: the tools did not reach the template", with.PromptTokens, bare.PromptTokens)
	}
	// A conversation with a tool call and its result is accepted and
	// rendered (the call in the template's JSON form).
	turns := append(q, models.Message{Role: "assistant", ToolCalls: []models.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)}}},
		models.Message{Role: "tool", Content: "sunny", ToolName: "get_weather", ToolCallID: "call_1"})
	after, err := tools.Chat(ctx, models.Request{Messages: turns, MaxTokens: 4, Temperature: &zero, Options: models.Options{Tools: weather}})
	if err != nil {
		t.Fatal(err)
	}
	if after.PromptTokens <= with.PromptTokens {
		t.Errorf("prompt tokens %d with the tool turns, %d without", after.PromptTokens, with.PromptTokens)
	}

	// The model writes a tool call when the format makes it: Ollama parses
	// it, and the backend returns it with an ID and the logprobs of the
	// tokens it generated.
	call := json.RawMessage(`{"type":"object","properties":{"name":{"type":"string","enum":["get_weather"]},` +
		`"arguments":{"type":"object","properties":{"city":{"type":"string","enum":["Paris"]}},"required":["city"]}},"required":["name","arguments"]}`)
	req := models.Request{Messages: q, MaxTokens: 160, Temperature: &zero, TopLogprobs: 2, Options: models.Options{Tools: weather, Format: &models.Format{Schema: call}}}
	for _, stream := range []bool{false, true} {
		var resp *models.Response
		if stream {
			resp, err = tools.ChatStream(ctx, req, func(models.Chunk) error { return nil })
		} else {
			resp, err = tools.Chat(ctx, req)
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.ToolCalls) != 1 || resp.ToolCalls[0].Name != "get_weather" || string(resp.ToolCalls[0].Arguments) != `{"city":"Paris"}` ||
			resp.ToolCalls[0].ID == "" || resp.FinishReason != "tool_calls" || len(resp.Tokens) == 0 {
			t.Errorf("stream %v: answer %q, tool calls %+v, finish %q, %d tokens", stream, resp.Content, resp.ToolCalls, resp.FinishReason, len(resp.Tokens))
		}
	}

	// An image given by URL cannot reach Ollama: a bad request.
	_, err = tools.Chat(ctx, models.Request{Messages: []models.Message{{Role: "user", Content: "?", Images: []models.Image{{URL: "https://example.test/a.png"}}}}})
	if !errors.Is(err, models.ErrBadRequest) {
		t.Errorf("image by URL: %v, want a bad request", err)
	}
}
