// Package grouping gives a request a group from its prompt: the nearest of
// the calibration's embedding clusters (edgecascade calibrate --groups K).
// The HTTP API asks it for requests that name no group themselves
// (X-Cascade-Group, cascade.group), before the cascade runs; adaptation
// then keeps a threshold per group.
package grouping

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/uq/calib"
	"github.com/edgecascade/edgecascade/uq/cluster"
)

// Assigner embeds a text with the clusters' embed model and names its
// nearest cluster.
type Assigner struct {
	embedder  models.Embedder
	model     string
	centroids [][]float32
	names     []string
}

// New returns an Assigner over g's clusters, embedding with e and g's
// embed model (the caller has checked it is the one configured:
// calib.File.CheckGroups).
func New(e models.Embedder, g *calib.Groups) (*Assigner, error) {
	if e == nil {
		return nil, errors.New("the local backend computes no embeddings, which the calibration's clusters need (use local.backend ollama or llamacpp-server, or calibrate without --groups)")
	}
	a := &Assigner{embedder: e, model: g.EmbedModel, centroids: g.Centroids()}
	for _, c := range g.Clusters {
		a.names = append(a.names, c.Name)
	}
	return a, nil
}

// Group returns the name of the cluster nearest to text's embedding (one
// embed call).
func (a *Assigner) Group(ctx context.Context, text string) (string, error) {
	res, err := a.embedder.Embed(ctx, models.EmbedRequest{Model: a.model, Input: []string{text}})
	if err != nil {
		return "", fmt.Errorf("embed the prompt for its group: %w", err)
	}
	if len(res.Vectors) != 1 {
		return "", fmt.Errorf("embed the prompt for its group: %d vectors for one input", len(res.Vectors))
	}
	v, err := cluster.Normalize(res.Vectors[0])
	if err != nil {
		return "", fmt.Errorf("embed the prompt for its group: %w", err)
	}
	i, _ := cluster.Nearest(a.centroids, v)
	if i < 0 {
		return "", fmt.Errorf("embed the prompt for its group: a vector of %d dimensions, the clusters have %d", len(v), len(a.centroids[0]))
	}
	return a.names[i], nil
}
