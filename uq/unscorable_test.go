package uq

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/edgecascade/edgecascade/models"
)

// Issue 14 item 7: bad model output (a positive, NaN or +Inf log
// probability; a NaN prediction) is rejected as unscorable by every scorer,
// never turned into a NaN score.
func TestBadModelOutputUnscorable(t *testing.T) {
	ctx := context.Background()
	mean, _ := New(MeanLogprob)
	sr, err := NewSelfRef("<CN>", "<UN>", mean)
	if err != nil {
		t.Fatal(err)
	}
	answer := models.TokenLogprob{Token: "Paris", Logprob: -0.1}
	conf := func(lp float64) []models.TokenLogprob {
		return []models.TokenLogprob{answer, {Token: "<CN>", Logprob: lp, Top: []models.TopLogprob{{Token: "<CN>", Logprob: lp}, {Token: "<UN>", Logprob: -3}}}}
	}
	badAnswer := func(lp float64) []models.TokenLogprob {
		return []models.TokenLogprob{{Token: "Paris", Logprob: lp}, {Token: "<CN>", Logprob: -0.1, Top: []models.TopLogprob{{Token: "<CN>", Logprob: -0.1}}}}
	}
	tests := []struct {
		name   string
		s      Scorer
		tokens []models.TokenLogprob
	}{
		{"selfref positive confidence logprob", sr, conf(800)},
		{"selfref small positive confidence logprob", sr, conf(0.5)},
		{"selfref NaN confidence logprob", sr, conf(math.NaN())},
		{"selfref +Inf confidence logprob", sr, conf(math.Inf(1))},
		{"selfref positive answer logprob", sr, badAnswer(2)},
		{"selfref NaN alternative", sr, []models.TokenLogprob{answer, {Token: "<CN>", Logprob: -0.1, Top: []models.TopLogprob{{Token: "<UN>", Logprob: math.NaN()}}}}},
	}
	for _, name := range Names() {
		s, _ := New(name)
		tests = append(tests,
			struct {
				name   string
				s      Scorer
				tokens []models.TokenLogprob
			}{name + " +Inf logprob", s, toks(-0.1, math.Inf(1))},
			struct {
				name   string
				s      Scorer
				tokens []models.TokenLogprob
			}{name + " positive top logprob", s, []models.TokenLogprob{withTop(-0.1, 0.7)}})
	}
	for _, tc := range tests {
		r, err := tc.s.Score(ctx, Input{Tokens: tc.tokens})
		if err == nil {
			t.Errorf("%s: scored %v (note %q), want an unscorable error", tc.name, r.Score, r.Note)
			continue
		}
		if !errors.Is(err, ErrUnscorable) {
			t.Errorf("%s: error %v is not ErrUnscorable", tc.name, err)
		}
	}
}

type fixedPredictor float64

func (p fixedPredictor) Predict(context.Context, []float32) (float64, error) { return float64(p), nil }

type fakeFeatures struct{}

func (fakeFeatures) Features(context.Context, string) ([]float32, error) { return []float32{1}, nil }
func (fakeFeatures) Render(context.Context, []models.Message) (string, error) {
	return "prompt", nil
}

type fixedScorer struct {
	name string
	v    float64
}

func (s fixedScorer) Name() string { return s.name }
func (s fixedScorer) Score(context.Context, Input) (Result, error) {
	return Result{Score: s.v}, nil
}

func TestNaNPredictionUnscorable(t *testing.T) {
	ctx := context.Background()
	for _, nan := range []float64{math.NaN(), math.Inf(1)} {
		p, err := NewProbe(fakeFeatures{}, fixedPredictor(nan))
		if err != nil {
			t.Fatal(err)
		}
		pg, err := NewPregenProbe(fakeFeatures{}, fixedPredictor(nan))
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewCombined(Stack{Inputs: []string{"x"}, Weights: []float64{1}}, []Scorer{fixedScorer{"x", nan}})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []Scorer{p, pg, c} {
			r, err := s.Score(ctx, Input{Answer: "a", Tokens: toks(-0.1)})
			if !errors.Is(err, ErrUnscorable) {
				t.Errorf("%s with %v: score %v, err %v; want ErrUnscorable", s.Name(), nan, r.Score, err)
			}
		}
	}
}
