package calib

import (
	"errors"
	"fmt"
	"math"
)

// Groups are the clusters of the calibration prompts' embeddings
// (edgecascade calibrate --groups K): with adaptation on, a request without
// an explicit group takes the group of its nearest centroid. The centroids
// are only meaningful for the embedding model that computed them.
type Groups struct {
	// EmbedModel is the model that embedded the prompts (local.embed_model,
	// empty: local.model, when calibrating).
	EmbedModel string `json:"embed_model"`
	// Seed is the k-means++ seed.
	Seed     uint64    `json:"seed"`
	Clusters []Cluster `json:"clusters"`
}

// Cluster is one group: its name (cluster-<i>), its unit-length centroid,
// and how the local answers of its calibration items did: how many there
// were and were right, and the threshold the file's method gives on them
// alone (nil with Error saying why, e.g. too few items), for comparison
// with the global one.
type Cluster struct {
	Name      string    `json:"name"`
	Centroid  []float32 `json:"centroid"`
	Size      int       `json:"size"`
	Correct   int       `json:"local_correct"`
	Threshold *float64  `json:"threshold,omitempty"`
	Result    *Result   `json:"result,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// ClusterName is the group name of cluster i.
func ClusterName(i int) string { return fmt.Sprintf("cluster-%d", i) }

// CheckGroups returns an error when the file has clusters fitted with
// another embedding model than embedModel (the one in use:
// local.embed_model, else local.model): their centroids would be
// compared with vectors of another space.
func (f *File) CheckGroups(embedModel string) error {
	if f.Groups == nil || f.Groups.EmbedModel == embedModel {
		return nil
	}
	return fmt.Errorf("its clusters were fitted with embed model %q, but local.embed_model (empty: local.model) is %q: set local.embed_model to %q or re-run edgecascade calibrate --groups K",
		f.Groups.EmbedModel, embedModel, f.Groups.EmbedModel)
}

// Centroids are the clusters' centroids, in order.
func (g *Groups) Centroids() [][]float32 {
	out := make([][]float32, len(g.Clusters))
	for i, c := range g.Clusters {
		out[i] = c.Centroid
	}
	return out
}

// validate checks decoded groups: a model, at least one cluster, centroids
// of one positive dimension, finite and of unit length, and distinct names.
func (g *Groups) validate() error {
	if g.EmbedModel == "" {
		return errors.New("groups: no embed model")
	}
	if len(g.Clusters) == 0 {
		return errors.New("groups: no clusters")
	}
	names := map[string]bool{}
	for i, c := range g.Clusters {
		if c.Name == "" || names[c.Name] {
			return fmt.Errorf("groups: cluster %d: empty or repeated name %q", i, c.Name)
		}
		names[c.Name] = true
		if len(c.Centroid) == 0 || len(c.Centroid) != len(g.Clusters[0].Centroid) {
			return fmt.Errorf("groups: cluster %s: centroid of %d dimensions, cluster 0 has %d", c.Name, len(c.Centroid), len(g.Clusters[0].Centroid))
		}
		var n float64
		for _, x := range c.Centroid {
			n += float64(x) * float64(x)
		}
		if !isFinite(n) || math.Abs(n-1) > 1e-3 {
			return fmt.Errorf("groups: cluster %s: centroid is not a unit vector (norm² %v)", c.Name, n)
		}
		if c.Threshold != nil && !isFinite(*c.Threshold) {
			return fmt.Errorf("groups: cluster %s: invalid threshold %v", c.Name, *c.Threshold)
		}
	}
	return nil
}
