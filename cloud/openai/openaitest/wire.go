package openaitest

// Writers of OpenAI's wire format, for Config.Handler and for tests that
// build an answer by hand.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/edgecascade/edgecascade/cloud/cloudtest"
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
