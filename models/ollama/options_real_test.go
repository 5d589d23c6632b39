package ollama_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/ollama"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

// TestOptionsReal checks the options against a real Ollama: format
// constrains the answer to JSON, the same seed gives the same sampled
// answer, and a stop sequence ends it.
func TestOptionsReal(t *testing.T) {
	s := ollamatest.New(t, ollamatest.Weak)
	c, err := ollama.New(ollama.Config{URL: s.URL, Model: ollamatest.Weak})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	q := []models.Message{{Role: "user", Content: "Give a JSON object with a field name."}}
	zero, one := 0.0, 1.0

	resp, err := c.Chat(ctx, models.Request{Messages: q, MaxTokens: 48, Temperature: &zero,
		Options: models.Options{Format: &models.Format{Schema: json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(strings.TrimSpace(resp.Content), "{") {
		t.Errorf("format: answer %q does not start a JSON object", resp.Content)
	}

	seed := int64(11)
	var answers []string
	for range 2 {
		resp, err := c.Chat(ctx, models.Request{Messages: q, MaxTokens: 16, Temperature: &one, Options: models.Options{Seed: &seed}})
		if err != nil {
			t.Fatal(err)
		}
		answers = append(answers, resp.Content)
	}
	if answers[0] != answers[1] {
		t.Errorf("seed: %q and %q differ", answers[0], answers[1])
	}

	free, err := c.Chat(ctx, models.Request{Messages: q, MaxTokens: 16, Temperature: &zero})
	if err != nil {
		t.Fatal(err)
	}
	if len(free.Content) > 4 {
		stop := strings.TrimSpace(free.Content[2:5])
		if stop != "" {
			cut, err := c.Chat(ctx, models.Request{Messages: q, MaxTokens: 16, Temperature: &zero, Options: models.Options{Stop: []string{stop}}})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(cut.Content, stop) || len(cut.Content) >= len(free.Content) {
				t.Errorf("stop %q: answer %q (without stop %q)", stop, cut.Content, free.Content)
			}
		}
	}
}
