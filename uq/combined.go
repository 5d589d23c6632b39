package uq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Combined is the name of the stacked scorer.
const Combined = "combined"

// Stack is a logistic regression over other scorers' scores, fitted on
// calibration data: p = sigmoid(bias + sum(weights[i] * score[inputs[i]])).
type Stack struct {
	Inputs  []string  `json:"inputs"`
	Weights []float64 `json:"weights"`
	Bias    float64   `json:"bias"`
}

// Validate checks the stack's shape.
func (s Stack) Validate() error {
	if len(s.Inputs) == 0 || len(s.Inputs) != len(s.Weights) {
		return fmt.Errorf("combined: %d inputs and %d weights", len(s.Inputs), len(s.Weights))
	}
	for i, w := range s.Weights {
		if math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("combined: weight of %s is %v", s.Inputs[i], w)
		}
	}
	if math.IsNaN(s.Bias) || math.IsInf(s.Bias, 0) {
		return fmt.Errorf("combined: bias is %v", s.Bias)
	}
	return nil
}

// Apply combines already computed scores.
func (s Stack) Apply(scores map[string]float64) (float64, error) {
	z := s.Bias
	for i, name := range s.Inputs {
		v, ok := scores[name]
		if !ok {
			return 0, fmt.Errorf("combined: no %s score", name)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("combined: %s score is %v: %w", name, v, ErrUnscorable)
		}
		z += s.Weights[i] * v
	}
	return 1 / (1 + math.Exp(-z)), nil
}

type combined struct {
	stack  Stack
	inputs []Scorer
}

// NewCombined returns the stacked scorer over the given input scorers, which
// must be exactly the stack's inputs.
func NewCombined(stack Stack, inputs []Scorer) (Scorer, error) {
	if err := stack.Validate(); err != nil {
		return nil, err
	}
	byName := map[string]Scorer{}
	for _, s := range inputs {
		byName[s.Name()] = s
	}
	c := &combined{stack: stack}
	for _, name := range stack.Inputs {
		s, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("combined: input scorer %s is not available (is probe.path set?)", name)
		}
		c.inputs = append(c.inputs, s)
	}
	return c, nil
}

func (c *combined) Name() string { return Combined }

func (c *combined) Score(ctx context.Context, in Input) (Result, error) {
	scores := make(map[string]float64, len(c.inputs))
	var notes []string
	for _, s := range c.inputs {
		r, err := s.Score(ctx, in)
		if err != nil {
			if errors.Is(err, ErrNoTokens) {
				return Result{}, err
			}
			return Result{}, fmt.Errorf("combined: %w", err)
		}
		scores[s.Name()] = r.Score
		if r.Note != "" {
			notes = append(notes, r.Note)
		}
	}
	p, err := c.stack.Apply(scores)
	return Result{Score: p, Note: strings.Join(notes, "; ")}, err
}
