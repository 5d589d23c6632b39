package llamacpp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/models"
)

// The client's generation options reach llama-server as its
// OpenAI-compatible endpoint names them.
func TestOptionsWireFormat(t *testing.T) {
	f := newFake(t, map[string]route{"POST /v1/chat/completions": {200, "", chatJSON}, "GET /props": {200, "", propsOct2024}})
	seed, topP, fp, pp, topK := int64(7), 0.9, 0.1, -0.2, 5
	req := models.Request{Messages: question, Options: models.Options{Stop: []string{"END"}, Seed: &seed, TopP: &topP, TopK: &topK, NumCtx: 4096,
		FrequencyPenalty: &fp, PresencePenalty: &pp, Format: &models.Format{Schema: json.RawMessage(`{"type":"object"}`)}}}
	if _, err := newClient(t, f.URL, nil).Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	b := f.Body(t, "POST /v1/chat/completions")
	want := map[string]any{
		"stop": []any{"END"}, "seed": float64(7), "top_p": 0.9, "frequency_penalty": 0.1, "presence_penalty": -0.2, "top_k": float64(5),
		"response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "response", "schema": map[string]any{"type": "object"}}},
	}
	for k, v := range want {
		if !reflect.DeepEqual(b[k], v) {
			t.Errorf("%s = %#v, want %#v", k, b[k], v)
		}
	}
}

// llama-server's context is fixed: num_ctx up to it is honoured (the request
// fits), a larger one is refused by name before anything is generated.
func TestNumCtxOverServerContext(t *testing.T) {
	f := newFake(t, map[string]route{"POST /v1/chat/completions": {200, "", chatJSON}, "GET /props": {200, "", propsOct2024}})
	req := models.Request{Messages: question, Options: models.Options{NumCtx: 8192}}
	_, err := newClient(t, f.URL, nil).Chat(context.Background(), req)
	if !errors.Is(err, models.ErrBadRequest) || !strings.Contains(err.Error(), "num_ctx 8192") || !strings.Contains(err.Error(), "4096") {
		t.Fatalf("err = %v, want a bad request naming num_ctx and the server's context", err)
	}
	_, err = newClient(t, f.URL, nil).ChatStream(context.Background(), req, func(models.Chunk) error { return nil })
	if !errors.Is(err, models.ErrBadRequest) {
		t.Fatalf("stream err = %v, want a bad request", err)
	}
}

// A raw completion goes to /v1/completions (no chat template): the prompt
// as is, logprobs as n_probs, JSON mode as json_schema; the answer is read
// from choices[].text with its token logprobs, streamed and not (as
// server_task_result_cmpl_{final,partial}::to_json_oaicompat write them:
// the final chunk of a stream has empty text). A suffix is refused.
func TestRawCompletion(t *testing.T) {
	tok := func(text string, lp float64) string {
		return `{"content":[{"id":1,"token":"` + text + `","bytes":[],"logprob":` + fmt.Sprint(lp) +
			`,"top_logprobs":[{"id":1,"token":"` + text + `","bytes":[],"logprob":` + fmt.Sprint(lp) + `}]}]}`
	}
	final := `{"choices":[{"text":"Paris.","index":0,"logprobs":` + tok("Paris.", -0.5) + `,"finish_reason":"stop"}],` +
		`"created":1,"model":"tiny","object":"text_completion","usage":{"completion_tokens":1,"prompt_tokens":4,"total_tokens":5},"id":"cmpl-1"}`
	partial := func(text string) string {
		return `{"choices":[{"text":"` + text + `","index":0,"logprobs":` + tok(text, -0.25) + `,"finish_reason":null}],"created":1,"model":"tiny","object":"text_completion","id":"cmpl-1"}`
	}
	last := `{"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"stop"}],"created":1,"model":"tiny","object":"text_completion",` +
		`"usage":{"completion_tokens":2,"prompt_tokens":4,"total_tokens":6},"id":"cmpl-1"}`
	f := newFake(t, map[string]route{"POST /v1/completions": {200, "", final}})
	c := newClient(t, f.URL, nil)
	req := models.Request{Messages: question, MaxTokens: 8, TopLogprobs: 3,
		Options:    models.Options{Format: &models.Format{}, Stop: []string{"END"}, TopK: new(5)},
		Completion: &models.Completion{Prompt: "<|im_start|>user\nq<|im_end|>\n", Raw: true}}
	resp, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != "Paris." || len(resp.Tokens) != 1 || resp.Tokens[0].Logprob != -0.5 || resp.FinishReason != "stop" || resp.PromptTokens != 4 {
		t.Fatalf("response %+v", resp)
	}
	b := f.Body(t, "POST /v1/completions")
	if b["prompt"] != "<|im_start|>user\nq<|im_end|>\n" || b["logprobs"] != float64(3) || b["max_tokens"] != float64(8) ||
		fmt.Sprint(b["json_schema"]) != "map[type:object]" || b["messages"] != nil || fmt.Sprint(b["stop"]) != "[END]" || b["top_k"] != float64(5) {
		t.Fatalf("body %v", b)
	}

	f = newFake(t, map[string]route{"POST /v1/completions": {200, "text/event-stream", sse("data: "+partial("Par"), "data: "+partial("is."), "data: "+last, "data: [DONE]")}})
	var chunks []string
	resp, err = newClient(t, f.URL, nil).ChatStream(context.Background(), req, func(ch models.Chunk) error {
		chunks = append(chunks, ch.Content)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != "Paris." || len(resp.Tokens) != 2 || fmt.Sprint(chunks) != "[Par is.]" || resp.CompletionTokens != 2 {
		t.Fatalf("stream: %+v, chunks %q", resp, chunks)
	}

	req.Completion = &models.Completion{Prompt: "a", Suffix: "b"}
	if _, err := c.Chat(context.Background(), req); !errors.Is(err, models.ErrBadRequest) || !strings.Contains(err.Error(), "suffix") {
		t.Fatalf("suffix: %v", err)
	}
}
