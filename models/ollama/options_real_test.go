package ollama_test

import (
	"context"
	"encoding/json"
	"errors"
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

// TestCompletionReal checks completions and the options top_k and num_ctx
// against a real Ollama: a raw prompt (the chat template rendered by hand)
// is continued as the chat would be; a suffix is refused by a model whose
// template has no insert support; top_k 1 samples greedily whatever the
// temperature; num_ctx is passed (a prompt over it is cut, not refused, as
// Ollama does).
func TestCompletionReal(t *testing.T) {
	s := ollamatest.New(t, ollamatest.Weak)
	c, err := ollama.New(ollama.Config{URL: s.URL, Model: ollamatest.Weak})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const q = "What is the capital of Osninax?"
	zero, one := 0.0, 1.0
	msgs := []models.Message{{Role: "user", Content: q}}
	chat, err := c.Chat(ctx, models.Request{Messages: msgs, MaxTokens: 24, Temperature: &zero, TopLogprobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	raw := "<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n"
	got, err := c.Chat(ctx, models.Request{Messages: msgs, MaxTokens: 24, Temperature: &zero, TopLogprobs: 2,
		Completion: &models.Completion{Prompt: raw, Raw: true}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Content != chat.Content || len(got.Tokens) == 0 || got.FinishReason == "" {
		t.Errorf("raw completion %q (%d tokens, finish %q), chat answer %q", got.Content, len(got.Tokens), got.FinishReason, chat.Content)
	}
	streamed, err := c.ChatStream(ctx, models.Request{Messages: msgs, MaxTokens: 24, Temperature: &zero,
		Completion: &models.Completion{Prompt: raw, Raw: true}}, func(models.Chunk) error { return nil })
	if err != nil || streamed.Content != chat.Content {
		t.Errorf("streamed raw completion %+v, %v; want %q", streamed, err, chat.Content)
	}

	_, err = c.Chat(ctx, models.Request{Messages: msgs, MaxTokens: 8, Completion: &models.Completion{Prompt: "a", Suffix: "b"}})
	if !errors.Is(err, models.ErrBadRequest) || !strings.Contains(err.Error(), "insert") {
		t.Errorf("suffix on a model without insert: err %v, want a bad request saying insert", err)
	}

	k := 1
	greedy, err := c.Chat(ctx, models.Request{Messages: msgs, MaxTokens: 24, Temperature: &one, Options: models.Options{TopK: &k, NumCtx: 256}})
	if err != nil {
		t.Fatal(err)
	}
	if greedy.Content != chat.Content {
		t.Errorf("top_k 1 at temperature 1: %q, greedy %q", greedy.Content, chat.Content)
	}
}
