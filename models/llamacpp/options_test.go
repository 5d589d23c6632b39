package llamacpp

import (
	"context"
	"encoding/json"
	"errors"
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
