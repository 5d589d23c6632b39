package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/edgecascade/edgecascade/cloud/openai/openaitest"
	"github.com/edgecascade/edgecascade/models"
)

// The client's generation options and the logprobs it asked for reach the
// provider as OpenAI names them, and the provider's logprobs come back.
func TestOptionsWireFormat(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-test",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"{}","refusal":null},"finish_reason":"stop",`+
			`"logprobs":{"content":[{"token":"{}","logprob":-0.5,"bytes":[123,125],"top_logprobs":[{"token":"{}","logprob":-0.5,"bytes":[123,125]}]}]}}],`+
			`"usage":{"prompt_tokens":12,"completion_tokens":1,"total_tokens":13}}`)
	})
	c := newTestClient(t, f.URL, nil)
	req := testRequest()
	seed, topP, fp, pp, topK := int64(7), 0.9, 0.1, -0.2, 5
	req.Options = models.Options{Stop: []string{"END"}, Seed: &seed, TopP: &topP, FrequencyPenalty: &fp, PresencePenalty: &pp, TopK: &topK, User: "u-1",
		Format: &models.Format{Name: "answer", Description: "d", Schema: json.RawMessage(`{"type":"object"}`), Strict: true}}
	req.Logprobs, req.TopLogprobs = true, 2
	resp, err := c.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	body, _, _ := last(f)
	want := map[string]any{
		"stop": []any{"END"}, "seed": float64(7), "top_p": 0.9, "frequency_penalty": 0.1, "presence_penalty": -0.2,
		"logprobs": true, "top_logprobs": float64(2), "user": "u-1", "top_k": nil,
		"response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "answer", "description": "d", "strict": true, "schema": map[string]any{"type": "object"}}},
	}
	for k, v := range want {
		if !reflect.DeepEqual(body[k], v) {
			t.Errorf("%s = %#v, want %#v", k, body[k], v)
		}
	}
	// OpenAI has no top_k: it is not sent, and the response says so.
	if got := fmt.Sprint(resp.NotSent); got != "[top_k]" {
		t.Errorf("NotSent = %s, want [top_k]", got)
	}
	wantLP := []models.TokenLogprob{{Token: "{}", Logprob: -0.5, Top: []models.TopLogprob{{Token: "{}", Logprob: -0.5}}}}
	if !reflect.DeepEqual(resp.Logprobs, wantLP) {
		t.Errorf("logprobs = %+v, want %+v", resp.Logprobs, wantLP)
	}

	// JSON mode without a schema is json_object.
	req = testRequest()
	req.Format = &models.Format{}
	if _, err := c.Complete(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	body, _, _ = last(f)
	if rf := fmt.Sprint(body["response_format"]); rf != "map[type:json_object]" {
		t.Errorf("response_format = %s", rf)
	}
}

// Streamed, each chunk's tokens go to LogprobsFunc just before the chunk's
// text goes to the DeltaFunc, and the response has them all.
func TestStreamLogprobsPerChunk(t *testing.T) {
	t.Parallel()
	lpChunk := func(text string) string {
		return `{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{"index":0,"delta":{"content":"` + text +
			`"},"finish_reason":null,"logprobs":{"content":[{"token":"` + text + `","logprob":-0.25,"bytes":null,"top_logprobs":[]}]}}]}`
	}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		openaitest.WriteSSE(w, lpChunk("Par"), lpChunk("is"), `{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`, "[DONE]")
	})
	c := newTestClient(t, f.URL, nil)
	req := testRequest()
	req.Logprobs = true
	var events []string
	req.LogprobsFunc = func(toks []models.TokenLogprob) error {
		for _, t := range toks {
			events = append(events, "tokens:"+t.Token)
		}
		return nil
	}
	resp, err := c.Stream(context.Background(), req, func(d string) error {
		events = append(events, "text:"+d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(events); got != "[tokens:Par text:Par tokens:is text:is]" {
		t.Errorf("events %s", got)
	}
	if len(resp.Logprobs) != 2 {
		t.Errorf("response logprobs %+v", resp.Logprobs)
	}
}
