package ollama

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/edgecascade/edgecascade/models"
)

// Tools and images on Ollama's /api/chat: tools as Ollama's function tools,
// messages with images (bytes), tool calls and tool results (tool_name),
// tool calls read back from the answer's messages. Ollama has no
// tool_choice: "none" sends no tools, a named function sends only that
// tool, and "required" and parallel_tool_calls are left to the model
// (docs/api.md says so). The capabilities come from /api/show.

// capsTTL is how long the capabilities read from /api/show are reused.
const capsTTL = time.Minute

// capsCache keeps the model's capabilities.
type capsCache struct {
	mu   sync.Mutex
	list []string
	at   time.Time
}

var _ models.Capabler = (*Client)(nil)

// Capabilities are the model's capabilities as Ollama's /api/show reports
// them ("completion", "tools", "vision", ...), read at most once a minute.
func (c *Client) Capabilities(ctx context.Context) ([]string, error) {
	c.caps.mu.Lock()
	defer c.caps.mu.Unlock()
	if !c.caps.at.IsZero() && time.Since(c.caps.at) < capsTTL {
		return c.caps.list, nil
	}
	d, err := c.Describe(ctx, "")
	if err != nil {
		return nil, err
	}
	c.caps.list, c.caps.at = d.Capabilities, time.Now()
	return c.caps.list, nil
}

// setTools puts the request's tools into Ollama's request, as its tool
// choice allows.
func setTools(areq *api.ChatRequest, o models.Options) error {
	if o.ToolChoice != nil && o.ToolChoice.Mode == models.ToolChoiceNone {
		return nil
	}
	for _, t := range o.Tools {
		if o.ToolChoice != nil && o.ToolChoice.Mode == models.ToolChoiceFunction && t.Name != o.ToolChoice.Name {
			continue
		}
		fn := map[string]any{"name": t.Name, "description": t.Description}
		if len(t.Parameters) > 0 {
			fn["parameters"] = t.Parameters
		} else {
			fn["parameters"] = map[string]any{"type": "object", "properties": map[string]any{}}
		}
		b, err := json.Marshal(map[string]any{"type": "function", "function": fn})
		if err != nil {
			return err
		}
		var at api.Tool
		if err := json.Unmarshal(b, &at); err != nil {
			return fmt.Errorf("tool %s: %w", t.Name, err)
		}
		areq.Tools = append(areq.Tools, at)
	}
	return nil
}

// message converts a chat message to Ollama's: images as bytes (Ollama
// cannot fetch a URL), tool calls with their arguments as an object.
func message(m models.Message) (api.Message, error) {
	am := api.Message{Role: m.Role, Content: m.Content, ToolName: m.ToolName, ToolCallID: m.ToolCallID}
	for _, im := range m.Images {
		if len(im.Data) == 0 {
			return am, errors.New("an image given by URL: Ollama takes image bytes only (send a data: URL)")
		}
		am.Images = append(am.Images, api.ImageData(im.Data))
	}
	for i, tc := range m.ToolCalls {
		call := api.ToolCall{ID: tc.ID, Function: api.ToolCallFunction{Index: i, Name: tc.Name, Arguments: api.NewToolCallFunctionArguments()}}
		if len(tc.Arguments) > 0 {
			if err := json.Unmarshal(tc.Arguments, &call.Function.Arguments); err != nil {
				return am, fmt.Errorf("tool call %s: arguments: %w", tc.Name, err)
			}
		}
		am.ToolCalls = append(am.ToolCalls, call)
	}
	return am, nil
}

// toolCalls converts the answer's tool calls; calls without an ID get one.
func toolCalls(in []api.ToolCall) ([]models.ToolCall, error) {
	out := make([]models.ToolCall, 0, len(in))
	for _, tc := range in {
		args, err := json.Marshal(tc.Function.Arguments)
		if err != nil {
			return nil, err
		}
		if string(args) == "null" {
			args = []byte("{}")
		}
		id := tc.ID
		if id == "" {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = "call_" + hex.EncodeToString(b[:])
		}
		out = append(out, models.ToolCall{ID: id, Name: tc.Function.Name, Arguments: args})
	}
	return out, nil
}
