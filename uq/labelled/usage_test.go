package labelled

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/tokenizer"
	"github.com/edgecascade/edgecascade/uq"
)

// cachedOnly is a local model and cloud provider that must never be asked:
// every answer of TestCloudUsageFromCache comes from the caches.
type cachedOnly struct{}

var errAsked = errors.New("asked although the answer is cached")

func (cachedOnly) Name() string  { return "cached" }
func (cachedOnly) Model() string { return "cached" }
func (cachedOnly) Chat(context.Context, models.Request) (*models.Response, error) {
	return nil, errAsked
}
func (cachedOnly) ChatStream(context.Context, models.Request, models.ChunkFunc) (*models.Response, error) {
	return nil, errAsked
}
func (cachedOnly) Complete(context.Context, cloud.Request) (*cloud.Response, error) {
	return nil, errAsked
}
func (cachedOnly) Stream(context.Context, cloud.Request, cloud.DeltaFunc) (*cloud.Response, error) {
	return nil, errAsked
}
func (cachedOnly) Ping(context.Context) error { return nil }

// TestCloudUsageFromCache reads cloud answers cached with reported token
// counts, with zero counts and in a line written without any "usage" field:
// reported counts are kept, missing ones are estimated with the counter (and
// marked so) or, without a counter, unknown (nil), never zero.
func TestCloudUsageFromCache(t *testing.T) {
	dir := t.TempDir()
	local := `{"response":{"model":"m","content":"x","tokens":[{"token":"x","logprob":-0.1}]},"latency":1}`
	items := []Item{
		{Prompt: "reported", Answer: "abcdefgh"},
		{Prompt: "zero usage here", Answer: "abcdefgh"},
		{Prompt: "an old line without usage", Answer: "abcdefgh"},
	}
	cloudLines := []string{
		`{"response":{"provider":"openai","model":"gpt-x","content":"abcdefgh","usage":{"prompt_tokens":31,"completion_tokens":7}},"latency":1}`,
		`{"response":{"provider":"openai","model":"gpt-x","content":"abcdefgh","usage":{"prompt_tokens":0,"completion_tokens":0}},"latency":1}`,
		`{"response":{"provider":"openai","model":"gpt-x","content":"abcdefghi"},"latency":1}`,
	}
	var lb, cb []byte
	for i, it := range items {
		lb = append(lb, `{"key":"`+promptKey(it.Prompt)+`","answer":`+local+"}\n"...)
		cb = append(cb, `{"key":"`+promptKey(it.Prompt)+`","answer":`+cloudLines[i]+"}\n"...)
	}
	if err := os.WriteFile(filepath.Join(dir, "local.jsonl"), lb, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cloud.jsonl"), cb, 0o600); err != nil {
		t.Fatal(err)
	}
	lc, err := OpenCache(dir, "local")
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	cc, err := OpenCache(dir, "cloud")
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	scorer, err := uq.Build(uq.MeanLogprob, uq.Options{})
	if err != nil {
		t.Fatal(err)
	}
	match, _ := NewMatcher(MatchExact)

	tests := []struct {
		name    string
		counter TokenCounter
		want    []*CloudUsage
	}{
		{"with a counter", tokenizer.Approx{}, []*CloudUsage{
			{PromptTokens: 31, CompletionTokens: 7},
			// Approx: ceil(bytes/4): "zero usage here" is 15 bytes, "abcdefgh" 8.
			{PromptTokens: 4, CompletionTokens: 2, Estimated: true},
			// "an old line without usage" is 25 bytes, "abcdefghi" 9.
			{PromptTokens: 7, CompletionTokens: 3, Estimated: true},
		}},
		{"without a counter", nil, []*CloudUsage{{PromptTokens: 31, CompletionTokens: 7}, nil, nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Runner{Local: cachedOnly{}, LocalCache: lc, Cloud: cachedOnly{}, CloudCache: cc,
				Scorers: []uq.Scorer{scorer}, Match: match, Counter: tc.counter}
			recs, err := r.Run(context.Background(), items)
			if err != nil {
				t.Fatal(err)
			}
			for i, rec := range recs {
				got, want := rec.CloudUsage, tc.want[i]
				if (got == nil) != (want == nil) || (got != nil && *got != *want) {
					t.Errorf("item %d: usage %+v, want %+v", i, got, want)
				}
				if rec.CloudProvider != "openai" || rec.CloudModel != "gpt-x" {
					t.Errorf("item %d: provider %q model %q", i, rec.CloudProvider, rec.CloudModel)
				}
			}
			if !*recs[0].CloudCorrect || *recs[2].CloudCorrect {
				t.Errorf("cloud labels: %v %v", *recs[0].CloudCorrect, *recs[2].CloudCorrect)
			}
		})
	}
}
