package openaitest

// Writers of OpenAI's wire format, for Config.Handler and for tests that
// build an answer by hand.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/edgecascade/edgecascade/cloud/cloudtest"
	"github.com/edgecascade/edgecascade/models"
)

// Completion is a chat.completion object with one choice.
func Completion(model, content, finish string, promptTokens, completionTokens int) string {
	return fmt.Sprintf(`{"id":"chatcmpl-fake","object":"chat.completion","created":1700000000,"model":%q,`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":%q,"refusal":null},"logprobs":null,"finish_reason":%q}],`+
		`"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
		model, content, finish, promptTokens, completionTokens, promptTokens+completionTokens)
}

// WriteCompletion writes a 200 chat.completion answer.
func WriteCompletion(w http.ResponseWriter, model, content, finish string, promptTokens, completionTokens int) {
	writeJSON(w, http.StatusOK, Completion(model, content, finish, promptTokens, completionTokens))
}

// Chunk is a chat.completion.chunk carrying a content delta and, when
// finish is not empty, the finish reason.
func Chunk(model, delta, finish string) string {
	fin := "null"
	if finish != "" {
		fin = fmt.Sprintf("%q", finish)
	}
	d := `{}`
	if delta != "" {
		d = fmt.Sprintf(`{"content":%q}`, delta)
	}
	return fmt.Sprintf(`{"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1700000000,"model":%q,`+
		`"choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}],"usage":null}`, model, d, fin)
}

// RoleChunk is the first chunk of a stream: the assistant role, no text.
func RoleChunk(model string) string {
	return fmt.Sprintf(`{"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1700000000,"model":%q,`+
		`"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}`, model)
}

// UsageChunk is the last chunk of a stream asked with
// stream_options.include_usage: no choices, the usage.
func UsageChunk(model string, promptTokens, completionTokens int) string {
	return fmt.Sprintf(`{"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1700000000,"model":%q,`+
		`"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
		model, promptTokens, completionTokens, promptTokens+completionTokens)
}

// ErrorJSON is OpenAI's error body; an empty code is null.
func ErrorJSON(msg, typ, code string) string {
	var c any
	if code != "" {
		c = code
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": c}})
	return string(b)
}

// WriteError writes OpenAI's error body with the status.
func WriteError(w http.ResponseWriter, status int, msg, typ, code string) {
	writeJSON(w, status, ErrorJSON(msg, typ, code))
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// WriteSSE sends each data as one event of a new stream.
func WriteSSE(w http.ResponseWriter, data ...string) {
	s := cloudtest.NewSSE(w)
	for _, d := range data {
		s.Send("", d)
	}
}

// wireCall is a tool call on OpenAI's wire (a stream's deltas have Index).
type wireCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// ToolCallCompletion is a chat.completion whose message carries the tool
// calls (arguments as a JSON string) after the content, null when empty.
func ToolCallCompletion(model, content string, calls []models.ToolCall, finish string, promptTokens, completionTokens int) string {
	msg := map[string]any{"role": "assistant", "content": nil, "refusal": nil}
	if content != "" {
		msg["content"] = content
	}
	wc := make([]wireCall, len(calls))
	for i, c := range calls {
		wc[i] = wireCall{ID: c.ID, Type: "function"}
		wc[i].Function.Name, wc[i].Function.Arguments = c.Name, string(c.Arguments)
	}
	msg["tool_calls"] = wc
	b, _ := json.Marshal(map[string]any{"id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000, "model": model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": finish}},
		"usage":   map[string]any{"prompt_tokens": promptTokens, "completion_tokens": completionTokens, "total_tokens": promptTokens + completionTokens}})
	return string(b)
}

// ToolCallChunks are the chat.completion.chunk objects that stream the
// tool calls: for each, a first delta with its index, id, type, name and
// empty arguments, then its arguments in two pieces.
func ToolCallChunks(model string, calls []models.ToolCall) []string {
	var out []string
	delta := func(c wireCall) string {
		b, _ := json.Marshal(map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"tool_calls": []wireCall{c}}, "logprobs": nil, "finish_reason": nil}}, "usage": nil})
		return string(b)
	}
	for i, c := range calls {
		first := wireCall{Index: &i, ID: c.ID, Type: "function"}
		first.Function.Name = c.Name
		out = append(out, delta(first))
		args := string(c.Arguments)
		for _, piece := range []string{args[:len(args)/2], args[len(args)/2:]} {
			next := wireCall{Index: &i}
			next.Function.Arguments = piece
			out = append(out, delta(next))
		}
	}
	return out
}
