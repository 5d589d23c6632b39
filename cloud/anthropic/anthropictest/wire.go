package anthropictest

// Writers of Anthropic's wire format, for Config.Handler and for tests that
// build an answer by hand.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/edgecascade/edgecascade/cloud/cloudtest"
	"github.com/edgecascade/edgecascade/models"
)

// Message is a "message" object with one text block.
func Message(model, text, stopReason string, inputTokens, outputTokens int) string {
	return fmt.Sprintf(`{"id":"msg_01test","type":"message","role":"assistant","model":%q,`+
		`"content":[{"type":"text","text":%q,"citations":null}],"stop_reason":%q,"stop_sequence":null,`+
		`"usage":{"input_tokens":%d,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":%d}}`,
		model, text, stopReason, inputTokens, outputTokens)
}

// WriteMessage writes a 200 "message" answer with request-id req_011test.
func WriteMessage(w http.ResponseWriter, model, text, stopReason string, inputTokens, outputTokens int) {
	writeJSON(w, http.StatusOK, "req_011test", Message(model, text, stopReason, inputTokens, outputTokens))
}

// WriteError writes Anthropic's error body with the status and request-id
// req_011err.
func WriteError(w http.ResponseWriter, status int, typ, msg string) {
	b, _ := json.Marshal(map[string]any{
		"type":       "error",
		"error":      map[string]any{"type": typ, "message": msg},
		"request_id": "req_011err",
	})
	writeJSON(w, status, "req_011err", string(b))
}

func writeJSON(w http.ResponseWriter, status int, requestID, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", requestID)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// Event is one Server-Sent Event: its type and its data.
type Event struct{ Type, Data string }

// MessageStart opens a stream: an empty message with the input usage.
func MessageStart(model string, inputTokens int) Event {
	return Event{"message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_01test","type":"message","role":"assistant",`+
		`"content":[],"model":%q,"stop_reason":null,"stop_sequence":null,`+
		`"usage":{"input_tokens":%d,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}`, model, inputTokens)}
}

// BlockStart opens text block i.
func BlockStart(i int) Event {
	return Event{"content_block_start", fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"text","text":""}}`, i)}
}

// TextDelta adds text to block i.
func TextDelta(i int, text string) Event {
	return Event{"content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":%q}}`, i, text)}
}

// BlockStop closes block i.
func BlockStop(i int) Event {
	return Event{"content_block_stop", fmt.Sprintf(`{"type":"content_block_stop","index":%d}`, i)}
}

// MessageDelta carries the stop reason and the output usage.
func MessageDelta(stopReason string, outputTokens int) Event {
	return Event{"message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%q,"stop_sequence":null},"usage":{"output_tokens":%d}}`,
		stopReason, outputTokens)}
}

// MessageStop ends a stream.
func MessageStop() Event { return Event{"message_stop", `{"type":"message_stop"}`} }

// Ping is the keep-alive event.
func Ping() Event { return Event{"ping", `{"type": "ping"}`} }

// ErrorEvent is an error in a stream.
func ErrorEvent(typ, msg string) Event {
	return Event{"error", fmt.Sprintf(`{"type":"error","error":{"type":%q,"message":%q}}`, typ, msg)}
}

// WriteSSE sends the events as a new stream (request-id req_011stream).
func WriteSSE(w http.ResponseWriter, events ...Event) {
	w.Header().Set("request-id", "req_011stream")
	s := cloudtest.NewSSE(w)
	for _, e := range events {
		s.Send(e.Type, e.Data)
	}
}

// ToolUseMessage is a "message" object with a text block (when text is not
// empty) and one tool_use block per call, its input a JSON object.
func ToolUseMessage(model, text string, calls []models.ToolCall, stopReason string, inputTokens, outputTokens int) string {
	content := []any{}
	if text != "" {
		content = append(content, map[string]any{"type": "text", "text": text, "citations": nil})
	}
	for _, c := range calls {
		content = append(content, map[string]any{"type": "tool_use", "id": c.ID, "name": c.Name, "input": json.RawMessage(c.Arguments)})
	}
	b, _ := json.Marshal(map[string]any{"id": "msg_01test", "type": "message", "role": "assistant", "model": model,
		"content": content, "stop_reason": stopReason, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": inputTokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": outputTokens}})
	return string(b)
}

// ToolUseEvents stream a tool_use block at index i: its start with an
// empty input, its input in two input_json_delta pieces, its stop.
func ToolUseEvents(i int, c models.ToolCall) []Event {
	start, _ := json.Marshal(map[string]any{"type": "content_block_start", "index": i,
		"content_block": map[string]any{"type": "tool_use", "id": c.ID, "name": c.Name, "input": map[string]any{}}})
	out := []Event{{"content_block_start", string(start)}}
	args := string(c.Arguments)
	for _, piece := range []string{args[:len(args)/2], args[len(args)/2:]} {
		d, _ := json.Marshal(map[string]any{"type": "content_block_delta", "index": i, "delta": map[string]any{"type": "input_json_delta", "partial_json": piece}})
		out = append(out, Event{"content_block_delta", string(d)})
	}
	return append(out, BlockStop(i))
}
