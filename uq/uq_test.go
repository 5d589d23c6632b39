package uq

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/edgecascade/edgecascade/models"
)

func toks(lps ...float64) []models.TokenLogprob {
	out := make([]models.TokenLogprob, len(lps))
	for i, lp := range lps {
		out[i] = models.TokenLogprob{Token: "x", Logprob: lp}
	}
	return out
}

func withTop(top ...float64) models.TokenLogprob {
	t := models.TokenLogprob{Token: "a", Logprob: top[0]}
	for _, lp := range top {
		t.Top = append(t.Top, models.TopLogprob{Token: "a", Logprob: lp})
	}
	return t
}

func TestScorers(t *testing.T) {
	ln := math.Log
	tests := []struct {
		scorer string
		tokens []models.TokenLogprob
		want   float64
	}{
		// mean logprob: exp(mean) = geometric mean of the probabilities.
		{MeanLogprob, toks(0, 0, 0), 1},
		{MeanLogprob, toks(ln(0.5), ln(0.5)), 0.5},
		{MeanLogprob, toks(ln(0.25), ln(1)), 0.5}, // sqrt(0.25*1)
		{MeanLogprob, toks(ln(0.1), ln(0.1), ln(0.1)), 0.1},
		// min logprob: the weakest token's probability.
		{MinLogprob, toks(ln(0.9), ln(0.2), ln(0.8)), 0.2},
		{MinLogprob, toks(0), 1},
		// entropy: exp(-mean H) over renormalized top-k.
		{Entropy, []models.TokenLogprob{withTop(0)}, 1},                  // single certain alternative
		{Entropy, []models.TokenLogprob{withTop(ln(0.5), ln(0.5))}, 0.5}, // H=ln2
		{Entropy, []models.TokenLogprob{withTop(ln(0.25), ln(0.25), ln(0.25), ln(0.25))}, 0.25},
		{Entropy, []models.TokenLogprob{withTop(ln(0.4), ln(0.4)), withTop(0)}, math.Exp(-ln(2) / 2)}, // renormalized to 0.5/0.5
		{Entropy, toks(ln(0.5)), 0.5},                                                                 // no top: p and 1-p
	}
	for _, tc := range tests {
		s, err := New(tc.scorer)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Score(context.Background(), Input{Tokens: tc.tokens})
		got := r.Score
		if err != nil {
			t.Fatalf("%s: %v", tc.scorer, err)
		}
		if math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s(%v) = %v, want %v", tc.scorer, tc.tokens, got, tc.want)
		}
		if got < 0 || got > 1 {
			t.Errorf("%s out of [0,1]: %v", tc.scorer, got)
		}
	}
}

func TestScorerOrdering(t *testing.T) {
	// A more confident answer must score higher on every scorer.
	ln := math.Log
	sure := []models.TokenLogprob{withTop(ln(0.95), ln(0.03), ln(0.02)), withTop(ln(0.9), ln(0.1))}
	unsure := []models.TokenLogprob{withTop(ln(0.4), ln(0.35), ln(0.25)), withTop(ln(0.5), ln(0.5))}
	for _, name := range Names() {
		s, _ := New(name)
		a, _ := s.Score(context.Background(), Input{Tokens: sure})
		b, _ := s.Score(context.Background(), Input{Tokens: unsure})
		if !(a.Score > b.Score) {
			t.Errorf("%s: sure %v not above unsure %v", name, a, b)
		}
	}
}

func TestScorerErrors(t *testing.T) {
	if _, err := New("perplexity"); err == nil {
		t.Fatal("unknown scorer accepted")
	} else {
		var ue *UnknownScorerError
		if !errors.As(err, &ue) || ue.Name != "perplexity" {
			t.Fatalf("want UnknownScorerError, got %v", err)
		}
	}
	for _, name := range Names() {
		s, _ := New(name)
		if _, err := s.Score(context.Background(), Input{}); !errors.Is(err, ErrNoTokens) {
			t.Errorf("%s: empty answer: got %v, want ErrNoTokens", name, err)
		}
		if _, err := s.Score(context.Background(), Input{Tokens: toks(math.NaN())}); err == nil {
			t.Errorf("%s: NaN logprob accepted", name)
		}
	}
}
