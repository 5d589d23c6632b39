package httpapi

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ollama/ollama/api"

	"github.com/edgecascade/edgecascade/models"
)

// Tools and images on both APIs: the wire shapes of OpenAI's and Ollama's
// tools, tool calls and images, and their conversion to the models types
// every backend and provider takes. Where a request with tools or images is
// answered is the cascade's decision (the local model's capabilities).

// wireTool is a tool of either API: {"type":"function","function":{...}}.
type wireTool struct {
	Type     string `json:"type"`
	Function *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
		Strict      *bool           `json:"strict"`
	} `json:"function"`
}

// readTools converts the tools of a request; param names the field.
func readTools(in []wireTool, param string) ([]models.Tool, error) {
	out := make([]models.Tool, 0, len(in))
	for i, t := range in {
		p := fmt.Sprintf("%s[%d]", param, i)
		if t.Type != "" && t.Type != "function" {
			return nil, &BadRequestError{Msg: fmt.Sprintf("%s.type %q is not supported (function)", p, t.Type), Param: p + ".type"}
		}
		if t.Function == nil || t.Function.Name == "" {
			return nil, &BadRequestError{Msg: p + " needs function.name", Param: p + ".function.name"}
		}
		tool := models.Tool{Name: t.Function.Name, Description: t.Function.Description, Strict: t.Function.Strict != nil && *t.Function.Strict}
		if ps := bytes.TrimSpace(t.Function.Parameters); len(ps) > 0 && !bytes.Equal(ps, []byte("null")) {
			if ps[0] != '{' {
				return nil, &BadRequestError{Msg: p + ".function.parameters must be a JSON schema object", Param: p + ".function.parameters"}
			}
			tool.Parameters = ps
		}
		out = append(out, tool)
	}
	return out, nil
}

// openAIToolChoice reads OpenAI's tool_choice: "none", "auto", "required"
// or {"type":"function","function":{"name":...}} naming one of the tools.
func openAIToolChoice(raw json.RawMessage, tools []models.Tool) (*models.ToolChoice, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	fail := func(msg string) (*models.ToolChoice, error) {
		return nil, &BadRequestError{Msg: msg, Param: "tool_choice"}
	}
	var mode string
	if err := json.Unmarshal(raw, &mode); err == nil {
		switch mode {
		case models.ToolChoiceNone, models.ToolChoiceAuto, models.ToolChoiceRequired:
		default:
			return fail(fmt.Sprintf("tool_choice %q is not supported (none, auto, required, or a function)", mode))
		}
		if mode != models.ToolChoiceNone && len(tools) == 0 {
			return fail("tool_choice needs tools")
		}
		return &models.ToolChoice{Mode: mode}, nil
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &named); err != nil || named.Type != "function" || named.Function.Name == "" {
		return fail(`tool_choice must be "none", "auto", "required" or {"type":"function","function":{"name":...}}`)
	}
	for _, t := range tools {
		if t.Name == named.Function.Name {
			return &models.ToolChoice{Mode: models.ToolChoiceFunction, Name: t.Name}, nil
		}
	}
	return fail(fmt.Sprintf("tool_choice names %q, which is not one of the tools", named.Function.Name))
}

// openAIToolCall is a tool call on OpenAI's wire: in an assistant message,
// a response message, or a stream's delta (with Index).
type openAIToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// readOpenAIToolCalls converts an assistant message's tool calls; the
// arguments must be a JSON object (OpenAI sends them as a string).
func readOpenAIToolCalls(in []openAIToolCall, param string) ([]models.ToolCall, error) {
	out := make([]models.ToolCall, 0, len(in))
	for i, tc := range in {
		p := fmt.Sprintf("%s[%d]", param, i)
		if tc.ID == "" || tc.Function.Name == "" {
			return nil, &BadRequestError{Msg: p + " needs id and function.name", Param: p}
		}
		args := strings.TrimSpace(tc.Function.Arguments)
		if args == "" {
			args = "{}"
		}
		if !json.Valid([]byte(args)) || args[0] != '{' {
			return nil, &BadRequestError{Msg: p + ".function.arguments must be a JSON object", Param: p + ".function.arguments"}
		}
		out = append(out, models.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: json.RawMessage(args)})
	}
	return out, nil
}

// openAIToolCalls is the answer's tool calls on OpenAI's wire; with
// indexes for a stream's deltas.
func openAIToolCalls(in []models.ToolCall, indexed bool) []openAIToolCall {
	out := make([]openAIToolCall, len(in))
	for i, tc := range in {
		out[i] = openAIToolCall{ID: tc.ID, Type: "function"}
		if indexed {
			n := i
			out[i].Index = &n
		}
		out[i].Function.Name = tc.Name
		out[i].Function.Arguments = string(tc.Arguments)
		if len(tc.Arguments) == 0 {
			out[i].Function.Arguments = "{}"
		}
	}
	return out
}

// toolName finds the name of the tool call a tool message answers.
func toolName(msgs []models.Message, id string) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		for _, tc := range msgs[i].ToolCalls {
			if tc.ID == id {
				return tc.Name
			}
		}
	}
	return ""
}

// toolCallID finds the ID of the last call of the named tool that no tool
// message has answered yet (Ollama's tool messages name the tool, not the
// call).
func toolCallID(msgs []models.Message, name string) string {
	answered := map[string]bool{}
	for _, m := range msgs {
		if m.Role == "tool" {
			answered[m.ToolCallID] = true
		}
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		for _, tc := range msgs[i].ToolCalls {
			if tc.Name == name && !answered[tc.ID] {
				return tc.ID
			}
		}
	}
	return ""
}

// openAIImage reads an image_url part: a data: URL with base64 data, or an
// http(s) URL that the provider fetches.
func openAIImage(raw string) (models.Image, error) {
	if rest, ok := strings.CutPrefix(raw, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isBase64 {
			return models.Image{}, fmt.Errorf("image_url data URLs must be base64 (data:image/png;base64,...)")
		}
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return models.Image{}, fmt.Errorf("image_url data is not valid base64: %v", err)
		}
		if mediaType == "" {
			mediaType = http.DetectContentType(b)
		}
		return models.Image{Data: b, MediaType: mediaType}, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return models.Image{}, fmt.Errorf("image_url.url must be an http(s) URL or a base64 data URL")
	}
	return models.Image{URL: raw}, nil
}

// ollamaImages converts Ollama's images (base64 on the wire, bytes here).
func ollamaImages(in []api.ImageData) []models.Image {
	out := make([]models.Image, len(in))
	for i, b := range in {
		out[i] = models.Image{Data: b, MediaType: http.DetectContentType(b)}
	}
	return out
}

// ollamaToolCalls converts an assistant message's tool calls from Ollama's
// wire (arguments as an object; IDs made up when missing).
func ollamaToolCallsIn(in []api.ToolCall) ([]models.ToolCall, error) {
	out := make([]models.ToolCall, len(in))
	for i, tc := range in {
		args, err := json.Marshal(tc.Function.Arguments)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(args, []byte("null")) {
			args = []byte("{}")
		}
		id := tc.ID
		if id == "" {
			id = newToolCallID()
		}
		out[i] = models.ToolCall{ID: id, Name: tc.Function.Name, Arguments: args}
	}
	return out, nil
}

// ollamaToolCallsOut converts the answer's tool calls to Ollama's wire.
func ollamaToolCallsOut(in []models.ToolCall) []api.ToolCall {
	if len(in) == 0 {
		return nil
	}
	out := make([]api.ToolCall, len(in))
	for i, tc := range in {
		out[i] = api.ToolCall{ID: tc.ID, Function: api.ToolCallFunction{Index: i, Name: tc.Name}}
		args := tc.Arguments
		if len(args) == 0 {
			args = []byte("{}")
		}
		if err := json.Unmarshal(args, &out[i].Function.Arguments); err != nil {
			out[i].Function.Arguments = api.NewToolCallFunctionArguments()
		}
	}
	return out
}

// ollamaRawTools reads the tools of an /api/chat body as sent: Ollama's
// typed parameters drop schema keywords it does not know.
func ollamaRawTools(body []byte) ([]models.Tool, error) {
	var raw struct {
		Tools []wireTool `json:"tools"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, &BadRequestError{Msg: "tools must be an array of {type: function, function: {name, description, parameters}}", Param: "tools"}
	}
	return readTools(raw.Tools, "tools")
}

// newToolCallID makes up a tool call ID in OpenAI's style.
func newToolCallID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "call_" + hex.EncodeToString(b[:])
}

// ollamaMessage converts message i of an /api/chat request; msgs are the
// messages before it (a tool message's call is found there).
func ollamaMessage(msgs []models.Message, m api.Message, i int) (models.Message, error) {
	msg := models.Message{Role: m.Role, Content: m.Content}
	if len(m.Images) > 0 {
		if m.Role != "user" {
			return msg, &BadRequestError{Msg: fmt.Sprintf("messages[%d]: only user messages may have images", i), Param: fmt.Sprintf("messages[%d].images", i)}
		}
		msg.Images = ollamaImages(m.Images)
	}
	if len(m.ToolCalls) > 0 {
		if m.Role != "assistant" {
			return msg, &BadRequestError{Msg: fmt.Sprintf("messages[%d]: only assistant messages have tool_calls", i), Param: fmt.Sprintf("messages[%d].tool_calls", i)}
		}
		calls, err := ollamaToolCallsIn(m.ToolCalls)
		if err != nil {
			return msg, &BadRequestError{Msg: fmt.Sprintf("messages[%d].tool_calls: %v", i, err), Param: fmt.Sprintf("messages[%d].tool_calls", i)}
		}
		msg.ToolCalls = calls
	}
	if m.Role != "tool" && (m.ToolName != "" || m.ToolCallID != "") {
		name := "tool_name"
		if m.ToolName == "" {
			name = "tool_call_id"
		}
		return msg, &BadRequestError{Msg: fmt.Sprintf("messages[%d]: only tool messages have %s", i, name), Param: fmt.Sprintf("messages[%d].%s", i, name)}
	}
	if m.Role == "tool" {
		msg.ToolName, msg.ToolCallID = m.ToolName, m.ToolCallID
		if msg.ToolCallID == "" {
			msg.ToolCallID = toolCallID(msgs, m.ToolName)
		}
		if msg.ToolName == "" {
			msg.ToolName = toolName(msgs, msg.ToolCallID)
		}
		if msg.ToolCallID == "" && msg.ToolName == "" {
			return msg, &BadRequestError{Msg: fmt.Sprintf("messages[%d]: a tool message needs tool_name (or follows a tool call)", i), Param: fmt.Sprintf("messages[%d].tool_name", i)}
		}
	}
	return msg, nil
}
