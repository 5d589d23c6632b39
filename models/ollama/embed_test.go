package ollama_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/ollama"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

// TestEmbedDescribeLoaded against a real Ollama: a batch from /api/embed
// (normalized, tokens counted), the legacy route's raw vector (the same
// direction), another model by name, a missing model; the model's
// description (details, template, capabilities, context length as
// ContextLength) and the models loaded.
func TestEmbedDescribeLoaded(t *testing.T) {
	s := ollamatest.New(t, ollamatest.Weak, ollamatest.Strong)
	c, err := ollama.New(ollama.Config{URL: s.URL, Model: ollamatest.Weak})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got, err := c.Embed(ctx, models.EmbedRequest{Input: []string{"the cat", "a dog"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Vectors) != 2 || got.PromptTokens == 0 || got.Model != ollamatest.Weak {
		t.Fatalf("embed = %d vectors, %d tokens, model %q", len(got.Vectors), got.PromptTokens, got.Model)
	}
	raw, err := c.Embed(ctx, models.EmbedRequest{Input: []string{"the cat"}, Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, x := range raw.Vectors[0] {
		n += float64(x) * float64(x)
	}
	n = math.Sqrt(n)
	if math.Abs(n-1) < 1e-3 {
		t.Fatalf("raw vector is normalized (norm %v)", n)
	}
	for i, x := range got.Vectors[0] {
		if math.Abs(float64(raw.Vectors[0][i])/n-float64(x)) > 1e-3 {
			t.Fatalf("raw value %d: %v, normalized %v", i, raw.Vectors[0][i], x)
		}
	}
	if other, err := c.Embed(ctx, models.EmbedRequest{Model: ollamatest.Strong, Input: []string{"x"}}); err != nil || other.Model != ollamatest.Strong {
		t.Fatalf("embed with %s: %v", ollamatest.Strong, err)
	}
	_, err = c.Embed(ctx, models.EmbedRequest{Model: "no-such-model", Input: []string{"x"}})
	var me *models.Error
	if !errors.Is(err, models.ErrModelNotFound) || !errors.As(err, &me) || me.Model != "no-such-model" {
		t.Fatalf("missing model: %v", err)
	}

	d, err := c.Describe(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	n2, err := c.ContextLength(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Model != ollamatest.Weak || d.Family == "" || d.Template == "" || d.ContextLength != n2 || !slices.Contains(d.Capabilities, "completion") || d.ModelInfo["general.architecture"] == nil {
		t.Fatalf("describe = %+v", d)
	}
	loaded, err := c.Loaded(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) == 0 || loaded[0].Size == 0 || loaded[0].ContextLength == 0 {
		t.Fatalf("loaded = %+v", loaded)
	}
}
