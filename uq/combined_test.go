package uq

import (
	"context"
	"math"
	"testing"

	"github.com/edgecascade/edgecascade/models"
)

func TestCombined(t *testing.T) {
	mean, _ := New(MeanLogprob)
	minS, _ := New(MinLogprob)
	stack := Stack{Inputs: []string{MeanLogprob, MinLogprob}, Weights: []float64{2, 4}, Bias: -3}
	c, err := NewCombined(stack, []Scorer{minS, mean})
	if err != nil {
		t.Fatal(err)
	}
	ln := math.Log
	in := Input{Tokens: []models.TokenLogprob{{Token: "a", Logprob: ln(0.25)}, {Token: "b", Logprob: ln(1)}}}
	r, err := c.Score(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	// mean = sqrt(0.25) = 0.5, min = 0.25: z = -3 + 1 + 1 = -1.
	if want := 1 / (1 + math.Exp(1)); math.Abs(r.Score-want) > 1e-12 {
		t.Fatalf("score %v, want %v", r.Score, want)
	}
	for _, tc := range []struct {
		name   string
		stack  Stack
		inputs []Scorer
	}{
		{"missing input", stack, []Scorer{mean}},
		{"shape", Stack{Inputs: []string{MeanLogprob}, Weights: []float64{1, 2}}, []Scorer{mean}},
		{"NaN weight", Stack{Inputs: []string{MeanLogprob}, Weights: []float64{math.NaN()}}, []Scorer{mean}},
		{"empty", Stack{}, nil},
	} {
		if _, err := NewCombined(tc.stack, tc.inputs); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}
