package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/probe"
	"github.com/edgecascade/edgecascade/uq"
	"github.com/edgecascade/edgecascade/uq/labelled"
)

// Data is the labelled feature matrix of a run.
type Data struct {
	X       [][]float32
	Y       []bool   // the local answer was right
	Prompts []string // each row's prompt (the hold-out split hashes it)
	Items   int      // records run
	Skipped int      // records whose text the backend rejected
	SkipErr error    // the first such rejection
}

// Positives counts the rows whose local answer was right.
func (d *Data) Positives() int {
	n := 0
	for _, v := range d.Y {
		if v {
			n++
		}
	}
	return n
}

// cachedFeatures is what the feature cache keeps per text.
type cachedFeatures struct {
	Features []float32 `json:"features"`
}

// featureCacheName names the feature cache for a model, its digest, the
// feature kind and the backend that computes them.
func featureCacheName(model, digest, backend string, kind probe.FeatureKind) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, model)
	return "features-" + safe + "-" + string(kind) + "-" + labelled.CacheKey("v1", model, digest, backend, string(kind))
}

// featureKey is the cache key of one item's features: what determines the
// text the probe reads (the chat template is fixed by the model digest).
func featureKey(kind probe.FeatureKind, prompt, rawAnswer string) string {
	if kind == probe.FeaturePrompt {
		return string(kind) + "\x00" + prompt
	}
	return string(kind) + "\x00" + prompt + "\x00" + rawAnswer
}

// maxRejectedFirst is how many items in a row, from the first, the backend
// may reject before Collect concludes it cannot give features at all.
const maxRejectedFirst = 5

// Collector computes the probe features of labelled records, or reads them
// from its cache (a file per model build, backend and feature kind in
// CacheDir).
type Collector struct {
	// Features is the local model as a source of features.
	Features uq.Features
	// Model and Digest name the local model build, Backend the backend
	// that computes its features: together they name the cache.
	Model, Digest, Backend string
	CacheDir               string
	// Log receives a line saying how many features are cached (nil: none).
	Log io.Writer
	// NewProgress, when set, makes the progress report of a run.
	NewProgress func(total int, label string) labelled.Progress
}

// Collect computes (or reads from the cache) the features of every record.
// An item whose text the backend rejects (e.g. longer than the context) is
// left out and counted; any other error stops the run, keeping what was
// cached.
func (c *Collector) Collect(ctx context.Context, kind probe.FeatureKind, records []labelled.Record) (*Data, error) {
	cache, err := labelled.OpenCache(c.CacheDir, featureCacheName(c.Model, c.Digest, c.Backend, kind))
	if err != nil {
		return nil, err
	}
	defer cache.Close()
	cached := 0
	for _, r := range records {
		if cache.Has(featureKey(kind, r.Prompt, r.LocalRawAnswer)) {
			cached++
		}
	}
	if c.Log != nil {
		fmt.Fprintf(c.Log, "probe features: %s features of %d items; cached in %s (%d of %d cached)\n",
			kind, len(records), cache.Path(), cached, len(records))
	}
	progress := labelled.Progress(noProgress{})
	if c.NewProgress != nil {
		progress = c.NewProgress(len(records), "probe features")
	}
	ds := &Data{Items: len(records)}
	for i, r := range records {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("interrupted after the features of %d of %d items; every finished one is cached, re-run to continue", i, len(records))
		}
		key := featureKey(kind, r.Prompt, r.LocalRawAnswer)
		var cf cachedFeatures
		if !cache.Get(key, &cf) || len(cf.Features) == 0 {
			cf.Features, err = itemFeatures(ctx, c.Features, kind, r)
			switch {
			case err != nil && ctx.Err() != nil:
				return nil, fmt.Errorf("interrupted after the features of %d of %d items; every finished one is cached, re-run to continue", i, len(records))
			case errors.Is(err, models.ErrBadRequest):
				ds.Skipped++
				if ds.SkipErr == nil {
					ds.SkipErr = fmt.Errorf("item %d: %w", r.Index, err)
				}
				if ds.Skipped >= maxRejectedFirst && len(ds.X) == 0 {
					return nil, fmt.Errorf("the local backend rejected the text of the first %d items, so it probably cannot give features for this model: %w", ds.Skipped, ds.SkipErr)
				}
				_ = progress.Add(1)
				continue
			case err != nil:
				return nil, fmt.Errorf("features of item %d: %w", r.Index, err)
			}
			if err := cache.Put(key, cf); err != nil {
				return nil, err
			}
		}
		if len(ds.X) > 0 && len(cf.Features) != len(ds.X[0]) {
			return nil, fmt.Errorf("features of item %d have %d values, earlier items %d: did the local model change? delete %s and re-run",
				r.Index, len(cf.Features), len(ds.X[0]), cache.Path())
		}
		ds.X = append(ds.X, cf.Features)
		ds.Y = append(ds.Y, r.LocalCorrect)
		ds.Prompts = append(ds.Prompts, r.Prompt)
		_ = progress.Add(1)
	}
	if len(ds.X) == 0 {
		return nil, fmt.Errorf("no item has features: the backend rejected every text (first: %v)", ds.SkipErr)
	}
	return ds, nil
}

type noProgress struct{}

func (noProgress) Add(int) error { return nil }

// itemFeatures is the hidden state the probe reads for one record: the same
// texts uq.AnswerText and uq.PromptText give at serving time.
func itemFeatures(ctx context.Context, fx uq.Features, kind probe.FeatureKind, r labelled.Record) ([]float32, error) {
	msgs := []models.Message{{Role: "user", Content: r.Prompt}}
	var (
		text string
		err  error
	)
	if kind == probe.FeaturePrompt {
		text, err = uq.PromptText(ctx, fx, msgs)
	} else {
		text, err = uq.AnswerText(ctx, fx, msgs, r.LocalRawAnswer)
	}
	if err != nil {
		return nil, err
	}
	return fx.Features(ctx, text)
}
