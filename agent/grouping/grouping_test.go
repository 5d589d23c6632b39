package grouping

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/uq/calib"
)

type fakeEmbedder struct {
	vecs  map[string][]float32
	err   error
	model string
}

func (f *fakeEmbedder) Embed(_ context.Context, req models.EmbedRequest) (*models.Embeddings, error) {
	f.model = req.Model
	if f.err != nil {
		return nil, f.err
	}
	out := &models.Embeddings{Model: req.Model}
	for _, in := range req.Input {
		out.Vectors = append(out.Vectors, f.vecs[in])
	}
	return out, nil
}

func TestAssigner(t *testing.T) {
	g := &calib.Groups{EmbedModel: "emb", Clusters: []calib.Cluster{
		{Name: "cluster-0", Centroid: []float32{1, 0}},
		{Name: "cluster-1", Centroid: []float32{0, 1}},
	}}
	e := &fakeEmbedder{vecs: map[string][]float32{"sum": {0.2, 3}, "capital": {5, 1}, "odd": {1, 0, 0}, "zero": {0, 0}}}
	a, err := New(e, g)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ text, want, err string }{
		{"sum", "cluster-1", ""},
		{"capital", "cluster-0", ""},
		{"odd", "", "3 dimensions"},
		{"zero", "", "normalized"},
	}
	for _, tt := range tests {
		got, err := a.Group(context.Background(), tt.text)
		if got != tt.want || (tt.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Fatalf("Group(%q) = %q, %v; want %q, %q", tt.text, got, err, tt.want, tt.err)
		}
	}
	if e.model != "emb" {
		t.Fatalf("embedded with %q", e.model)
	}
	e.err = errors.New("backend down")
	if _, err := a.Group(context.Background(), "sum"); err == nil || !strings.Contains(err.Error(), "backend down") {
		t.Fatalf("failed embed: %v", err)
	}
	if _, err := New(nil, g); err == nil {
		t.Fatal("New without an embedder")
	}
}
