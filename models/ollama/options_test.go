package ollama

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/models"
)

// The client's generation options reach Ollama as options, format and
// keep_alive.
func TestOptionsWireFormat(t *testing.T) {
	bodies := make(chan map[string]any, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		_ = json.NewDecoder(r.Body).Decode(&b)
		bodies <- b
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintln(w, `{"model":"m","message":{"role":"assistant","content":"{}"},"done":true,"done_reason":"stop","eval_count":1}`)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{URL: srv.URL, Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	seed, topP, fp, pp, ka, topK := int64(7), 0.9, 0.1, -0.2, 5*time.Minute, 5
	for _, tt := range []struct {
		format *models.Format
		want   any
	}{
		{&models.Format{}, "json"},
		{&models.Format{Schema: json.RawMessage(`{"type":"object"}`)}, map[string]any{"type": "object"}},
	} {
		req := models.Request{Messages: []models.Message{{Role: "user", Content: "q"}}, Options: models.Options{
			Stop: []string{"END"}, Seed: &seed, TopP: &topP, FrequencyPenalty: &fp, PresencePenalty: &pp, Format: tt.format, KeepAlive: &ka,
			TopK: &topK, NumCtx: 2048, User: "u-1"}}
		if _, err := c.Chat(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		b := <-bodies
		wantOpts := map[string]any{"stop": []any{"END"}, "seed": float64(7), "top_p": 0.9, "frequency_penalty": 0.1, "presence_penalty": -0.2,
			"top_k": float64(5), "num_ctx": float64(2048)}
		if !reflect.DeepEqual(b["options"], wantOpts) {
			t.Errorf("options = %v, want %v", b["options"], wantOpts)
		}
		if !reflect.DeepEqual(b["format"], tt.want) {
			t.Errorf("format = %v, want %v", b["format"], tt.want)
		}
		if b["keep_alive"] != "5m0s" && b["keep_alive"] != float64(300) {
			t.Errorf("keep_alive = %v", b["keep_alive"])
		}
	}
}
