package labelled

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/uq"
	"github.com/edgecascade/edgecascade/uq/calib"
)

// Progress is told about each finished item (cached or not).
type Progress interface {
	Add(n int) error
}

// Runner runs a data set through the local model and, when Cloud is set,
// the cloud provider.
type Runner struct {
	Local       models.Model
	LocalCache  *Cache // optional
	TopLogprobs int
	Scorers     []uq.Scorer
	Cloud       cloud.Provider // optional
	CloudCache  *Cache         // optional
	Match       Matcher
	Progress    Progress // optional
	// Clean turns a raw model answer into the answer a user sees (e.g. strips
	// a confidence token); nil keeps it as it is.
	Clean func(string) string
	// Counter estimates the cloud's token counts when a cloud answer carries
	// none (a provider that reports no usage, or a cache line without it);
	// nil leaves such counts unknown.
	Counter TokenCounter
}

// TokenCounter counts the tokens of a text (models/tokenizer implements it).
type TokenCounter interface {
	// Count returns the number of tokens of text, or an estimate.
	Count(text string) (int, error)
}

// cachedLocal is what the local cache keeps: the raw answer and its tokens,
// so that any scorer can be recomputed later.
type cachedLocal struct {
	Response models.Response `json:"response"`
	Latency  time.Duration   `json:"latency"`
}

type cachedCloud struct {
	Response cloud.Response `json:"response"`
	Latency  time.Duration  `json:"latency"`
}

// Run answers every item and returns one record per item, in order. When ctx
// is canceled it stops between items and returns the records finished so far
// with the context's error; every finished answer is already in the caches.
func (r *Runner) Run(ctx context.Context, items []Item) ([]Record, error) {
	if r.Local == nil || r.Match == nil || len(r.Scorers) == 0 {
		return nil, errors.New("runner: local model, matcher and scorers are required")
	}
	clean := r.Clean
	if clean == nil {
		clean = func(s string) string { return s }
	}
	records := make([]Record, 0, len(items))
	for i, it := range items {
		if err := ctx.Err(); err != nil {
			return records, err
		}
		rec := Record{Index: i, Task: it.Task, Prompt: it.Prompt, Expected: it.Answer, Scores: map[string]float64{}}
		local, err := r.local(ctx, it.Prompt)
		if err != nil {
			return records, fmt.Errorf("item %d: %w", i, err)
		}
		rec.LocalRawAnswer = local.Response.Content
		rec.LocalAnswer = clean(local.Response.Content)
		rec.LocalCorrect = r.Match(rec.LocalAnswer, it.Answer)
		rec.LocalLatency = local.Latency
		in := uq.Input{Messages: []models.Message{{Role: "user", Content: it.Prompt}}, Answer: local.Response.Content, Tokens: local.Response.Tokens}
		for _, s := range r.Scorers {
			res, err := s.Score(ctx, in)
			if err != nil {
				res.Score = 0 // unscorable answers are treated as not confident
			}
			rec.Scores[s.Name()] = res.Score
		}
		if r.Cloud != nil {
			c, err := r.cloud(ctx, it.Prompt)
			if err != nil {
				return records, fmt.Errorf("item %d: %w", i, err)
			}
			ok := r.Match(clean(c.Response.Content), it.Answer)
			rec.CloudAnswer, rec.CloudCorrect, rec.CloudLatency = c.Response.Content, &ok, c.Latency
			rec.CloudProvider, rec.CloudModel = c.Response.Provider, c.Response.Model
			rec.CloudUsage = r.cloudUsage(it.Prompt, c.Response)
		}
		records = append(records, rec)
		if r.Progress != nil {
			_ = r.Progress.Add(1)
		}
	}
	return records, nil
}

func (r *Runner) local(ctx context.Context, prompt string) (cachedLocal, error) {
	var c cachedLocal
	if r.LocalCache != nil && r.LocalCache.Get(prompt, &c) {
		return c, nil
	}
	start := time.Now()
	resp, err := r.Local.Chat(ctx, models.Request{
		Messages:    []models.Message{{Role: "user", Content: prompt}},
		TopLogprobs: r.TopLogprobs,
	})
	if err != nil {
		return c, fmt.Errorf("local model: %w", err)
	}
	c = cachedLocal{Response: *resp, Latency: time.Since(start)}
	if r.LocalCache != nil {
		if err := r.LocalCache.Put(prompt, c); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (r *Runner) cloud(ctx context.Context, prompt string) (cachedCloud, error) {
	var c cachedCloud
	if r.CloudCache != nil && r.CloudCache.Get(prompt, &c) {
		return c, nil
	}
	zero := 0.0
	start := time.Now()
	resp, err := r.Cloud.Complete(ctx, cloud.Request{
		Messages:    []models.Message{{Role: "user", Content: prompt}},
		Temperature: &zero, // reproducible labels
	})
	if err != nil {
		return c, fmt.Errorf("cloud: %w", err)
	}
	c = cachedCloud{Response: *resp, Latency: time.Since(start)}
	if r.CloudCache != nil {
		if err := r.CloudCache.Put(prompt, c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// cloudUsage is the cloud's own token counts or, when it reported none (a
// zero prompt count: every request has a prompt), an estimate with
// r.Counter; nil when there is neither. The prompt estimate counts the
// prompt's text only, not the chat template around it.
func (r *Runner) cloudUsage(prompt string, resp cloud.Response) *CloudUsage {
	if resp.Usage.PromptTokens > 0 {
		return &CloudUsage{PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens}
	}
	if r.Counter == nil {
		return nil
	}
	p, err := r.Counter.Count(prompt)
	if err != nil {
		return nil
	}
	a, err := r.Counter.Count(resp.Content)
	if err != nil {
		return nil
	}
	return &CloudUsage{PromptTokens: p, CompletionTokens: a, Estimated: true}
}

// LocalCacheName names the local answer cache for a model, its digest and
// the settings that change answers.
func LocalCacheName(model, digest string, topLogprobs int) string {
	return "local-" + sanitize(model) + "-" + CacheKey("v1", model, digest, fmt.Sprint(topLogprobs))
}

// CloudCacheName names the cloud answer cache for a provider and model.
func CloudCacheName(provider, baseURL, model string) string {
	return "cloud-" + sanitize(model) + "-" + CacheKey("v1", provider, baseURL, model)
}

// Samples extracts the calibration samples of one scorer.
func Samples(records []Record, scorer string) ([]calib.Sample, error) {
	out := make([]calib.Sample, len(records))
	for i, r := range records {
		s, ok := r.Scores[scorer]
		if !ok {
			return nil, fmt.Errorf("record %d has no %s score", r.Index, scorer)
		}
		out[i] = calib.Sample{Score: s, Correct: r.LocalCorrect}
	}
	return out, nil
}
