package main

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/ollama/ollama/api"

	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

// TestServeEmbedModelAndShow: the real binary against the test bed, with
// local.embed_model another model than local.model: /api/embed computes
// with the embed model (named local or by its name; the chat model's name
// is not an embed model), /api/show describes the chat model, /api/ps
// lists them, and / answers as Ollama.
func TestServeEmbedModelAndShow(t *testing.T) {
	s := needBed(t)
	env := bedEnv(s)
	env["EDGECASCADE_LOCAL_EMBED_MODEL"] = ollamatest.Strong
	d := startServe(t, env)
	u, err := url.Parse(d.url)
	if err != nil {
		t.Fatal(err)
	}
	c := api.NewClient(u, http.DefaultClient)
	ctx := context.Background()
	if err := c.Heartbeat(ctx); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	viaLocal, err := c.Embed(ctx, &api.EmbedRequest{Model: "local", Input: "the cat"})
	if err != nil {
		t.Fatal(err)
	}
	direct, err := api.NewClient(mustURL(t, s.URL), http.DefaultClient).Embed(ctx, &api.EmbedRequest{Model: ollamatest.Strong, Input: "the cat"})
	if err != nil {
		t.Fatal(err)
	}
	if len(viaLocal.Embeddings) != 1 || len(viaLocal.Embeddings[0]) != len(direct.Embeddings[0]) || viaLocal.Embeddings[0][0] != direct.Embeddings[0][0] {
		t.Fatalf("embed via the daemon differs from %s's own", ollamatest.Strong)
	}
	if _, err := c.Embed(ctx, &api.EmbedRequest{Model: ollamatest.Strong, Input: "the cat"}); err != nil {
		t.Fatalf("embed by the embed model's name: %v", err)
	}
	if _, err := c.Embed(ctx, &api.EmbedRequest{Model: ollamatest.Weak, Input: "the cat"}); err == nil {
		t.Fatalf("embed with the chat model's name: no error")
	}
	show, err := c.Show(ctx, &api.ShowRequest{Model: "local"})
	if err != nil || show.Details.ParentModel != ollamatest.Weak {
		t.Fatalf("show local: %+v %v", show, err)
	}
	if err := c.Generate(ctx, &api.GenerateRequest{Model: "local", Prompt: "hi", Options: map[string]any{"num_predict": 1}}, func(api.GenerateResponse) error { return nil }); err != nil {
		t.Fatal(err)
	}
	ps, err := c.ListRunning(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, m := range ps.Models {
		names[m.Name] = m.Model
	}
	// The chat model was loaded last; the embed model too, when the bed
	// keeps two models loaded. Nothing else, each under its name here.
	if names["local"] != ollamatest.Weak+":latest" || len(names) > 2 || (len(names) == 2 && names[ollamatest.Strong] != ollamatest.Strong+":latest") {
		t.Fatalf("ps = %v", names)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
