package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgecascade/edgecascade/agent/grouping"
	"github.com/edgecascade/edgecascade/agent/httpapi"
	"github.com/edgecascade/edgecascade/configs"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/uq/calib"
	"github.com/edgecascade/edgecascade/uq/cluster"
	"github.com/edgecascade/edgecascade/uq/labelled"
)

// groupsSeed is the k-means++ seed of calibrate --groups: the same data
// and embed model give the same clusters.
const groupsSeed = 1

// embedBatch is how many prompts one embed call carries.
const embedBatch = 32

// fitGroups embeds the records' prompts with the embed model
// (local.embed_model, else local.model), fits k clusters of them, and
// says how the local answers did in each: size, right answers, and the
// threshold the spec gives on the cluster alone (for comparison; serve
// starts every group from the global threshold).
func (a *app) fitGroups(ctx context.Context, cfg *configs.Config, run *dataRun, records []labelled.Record, k int, scorer string, spec labelled.Spec, meta labelled.Meta) (*calib.Groups, error) {
	e, ok := run.local.(models.Embedder)
	if !ok {
		return nil, fmt.Errorf("--groups: the local backend %s computes no embeddings (use local.backend ollama or llamacpp-server)", cfg.Local.Backend)
	}
	if k > len(records) {
		return nil, fmt.Errorf("--groups %d: more clusters than the %d items", k, len(records))
	}
	model := cfg.EmbedModel()
	fmt.Fprintf(a.stderr, "groups: embedding %d prompts with %s\n", len(records), model)
	prog := newProgress(a.stderr, len(records), "embed")
	vecs := make([][]float32, 0, len(records))
	for start := 0; start < len(records); start += embedBatch {
		end := min(start+embedBatch, len(records))
		in := make([]string, 0, end-start)
		for _, r := range records[start:end] {
			in = append(in, r.Prompt)
		}
		res, err := e.Embed(ctx, models.EmbedRequest{Model: model, Input: in})
		if err != nil {
			return nil, fmt.Errorf("--groups: embed the prompts with %s (local.embed_model): %w", model, err)
		}
		if len(res.Vectors) != len(in) {
			return nil, fmt.Errorf("--groups: %s returned %d vectors for %d prompts", model, len(res.Vectors), len(in))
		}
		vecs = append(vecs, res.Vectors...)
		_ = prog.Add(len(in))
	}
	fit, err := cluster.KMeans(vecs, k, groupsSeed)
	if err != nil {
		return nil, fmt.Errorf("--groups: %w", err)
	}
	g := &calib.Groups{EmbedModel: model, Seed: groupsSeed}
	members := make([][]labelled.Record, k)
	for i, c := range fit.Assign {
		members[c] = append(members[c], records[i])
	}
	for i, cent := range fit.Centroids {
		c := calib.Cluster{Name: calib.ClusterName(i), Centroid: cent, Size: len(members[i])}
		for _, r := range members[i] {
			if r.LocalCorrect {
				c.Correct++
			}
		}
		if len(members[i]) == 0 {
			c.Error = "no items"
		} else if f, err := labelled.Calibrate(members[i], run.scorers, scorer, spec, meta, time.Now()); err != nil {
			c.Error = err.Error()
		} else if sf := f.Scorers[scorer]; sf.Threshold != nil {
			c.Threshold, c.Result = sf.Threshold, sf.Result
		} else {
			c.Error = sf.Error
		}
		g.Clusters = append(g.Clusters, c)
	}
	return g, nil
}

// printGroups prints each cluster's size and local answers.
func (a *app) printGroups(g *calib.Groups) {
	fmt.Fprintf(a.stdout, "\ngroups: %d clusters of the prompts' embeddings (%s); with adapt.enabled a request without X-Cascade-Group takes its nearest\n", len(g.Clusters), g.EmbedModel)
	fmt.Fprintf(a.stdout, "%-12s %-6s %-14s %-10s %-10s %s\n", "GROUP", "ITEMS", "LOCAL ACCURACY", "THRESHOLD", "LOCAL", "ACCEPTED ACCURACY")
	for _, c := range g.Clusters {
		acc := "n/a"
		if c.Size > 0 {
			acc = fmt.Sprintf("%.1f%%", 100*float64(c.Correct)/float64(c.Size))
		}
		if c.Threshold == nil || c.Result == nil {
			fmt.Fprintf(a.stdout, "%-12s %-6d %-14s %-10s %s\n", c.Name, c.Size, acc, "none", c.Error)
			continue
		}
		fmt.Fprintf(a.stdout, "%-12s %-6d %-14s %-10.4f %-10s %.1f%%\n", c.Name, c.Size, acc, *c.Threshold,
			fmt.Sprintf("%.1f%%", 100*c.Result.Coverage), 100*c.Result.AcceptedAccuracy)
	}
}

// checkGroupsFlag refuses --groups where it cannot apply.
func checkGroupsFlag(groups int, fromLog, stages bool) error {
	switch {
	case groups < 0:
		return errors.New("--groups must not be negative")
	case groups == 0:
		return nil
	case fromLog:
		return errors.New("--groups needs --data: the decision log keeps no prompts to cluster by default")
	case stages:
		return errors.New("--groups with cascade.stages: adaptation, which uses the groups, runs with one local stage only")
	}
	return nil
}

// clusterGrouper is the grouper of the calibration's embedding clusters
// (with adapt.enabled): nil when the calibration file has none, an error
// when they were fitted with another embed model or the backend computes
// no embeddings.
func clusterGrouper(cfg *configs.Config, log *slog.Logger, e models.Embedder) (httpapi.Grouper, error) {
	if cfg.Cascade.Calibration == "" {
		return nil, nil
	}
	f, err := calib.ReadFile(cfg.Cascade.Calibration)
	if err != nil {
		return nil, fmt.Errorf("cascade.calibration: %w", err)
	}
	if f.Groups == nil {
		return nil, nil
	}
	if err := f.CheckGroups(cfg.EmbedModel()); err != nil {
		return nil, fmt.Errorf("cascade.calibration: %s: %w", cfg.Cascade.Calibration, err)
	}
	g, err := grouping.New(e, f.Groups)
	if err != nil {
		return nil, fmt.Errorf("cascade.calibration: %s: %w", cfg.Cascade.Calibration, err)
	}
	log.Info("requests without a group take their prompt's nearest embedding cluster", "clusters", len(f.Groups.Clusters), "embed_model", f.Groups.EmbedModel)
	return g, nil
}
