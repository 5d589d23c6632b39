package llamacpp

import (
	"context"
	"errors"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/models"
)

// TestEmbed: one vector per input from the fake llama-server's /embedding
// (--pooling none rows, mean-pooled), normalized unless Raw; what
// llama-server lacks is refused as a bad request.
func TestEmbed(t *testing.T) {
	srv := httptest.NewServer(modelFake{model: "m"}.handler())
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, nil)
	ctx := context.Background()
	got, err := c.Embed(ctx, models.EmbedRequest{Input: []string{"ab", "xyz"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Vectors) != 2 || got.PromptTokens != 0 {
		t.Fatalf("embeddings = %+v", got)
	}
	for i, v := range got.Vectors {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		if len(v) != 3 || math.Abs(math.Sqrt(s)-1) > 1e-5 {
			t.Fatalf("vector %d = %v", i, v)
		}
	}
	raw, err := c.Embed(ctx, models.EmbedRequest{Input: []string{"ab"}, Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	// The mean of the rows {'a', 1, sin 'a'} and {'b', 2, sin 'b'}.
	if v := raw.Vectors[0]; math.Abs(float64(v[0])-97.5) > 1e-4 || math.Abs(float64(v[1])-1.5) > 1e-4 {
		t.Fatalf("raw vector = %v", v)
	}
	yes, d := true, time.Minute
	for _, req := range []models.EmbedRequest{
		{Input: []string{"a"}, Truncate: &yes},
		{Input: []string{"a"}, Options: map[string]any{"seed": 1}},
		{Input: []string{"a"}, KeepAlive: &d},
	} {
		if _, err := c.Embed(ctx, req); !errors.Is(err, models.ErrBadRequest) {
			t.Fatalf("%+v: %v, want ErrBadRequest", req, err)
		}
	}
}
