package llamacpp

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/edgecascade/edgecascade/models"
)

// The client's generation options reach llama-server as its
// OpenAI-compatible endpoint names them.
func TestOptionsWireFormat(t *testing.T) {
	f := newFake(t, map[string]route{"POST /v1/chat/completions": {200, "", chatJSON}})
	seed, topP, fp, pp := int64(7), 0.9, 0.1, -0.2
	req := models.Request{Messages: question, Options: models.Options{Stop: []string{"END"}, Seed: &seed, TopP: &topP,
		FrequencyPenalty: &fp, PresencePenalty: &pp, Format: &models.Format{Schema: json.RawMessage(`{"type":"object"}`)}}}
	if _, err := newClient(t, f.URL, nil).Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	b := f.Body(t, "POST /v1/chat/completions")
	want := map[string]any{
		"stop": []any{"END"}, "seed": float64(7), "top_p": 0.9, "frequency_penalty": 0.1, "presence_penalty": -0.2,
		"response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "response", "schema": map[string]any{"type": "object"}}},
	}
	for k, v := range want {
		if !reflect.DeepEqual(b[k], v) {
			t.Errorf("%s = %#v, want %#v", k, b[k], v)
		}
	}
}
