// Package uq scores how likely a local answer is right, from the token log
// probabilities the local model returned with it. Every scorer maps to [0, 1],
// higher meaning more likely right. Calibration lives in uq/calib.
package uq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/edgecascade/edgecascade/models"
)

// Scorer names, as used in the setting cascade.scorer.
const (
	MeanLogprob = "mean_logprob"
	MinLogprob  = "min_logprob"
	Entropy     = "entropy"
)

// ErrNoTokens means the answer carried no token log probabilities to score.
var ErrNoTokens = errors.New("no token logprobs to score")

// ErrUnscorable means the model's output cannot be scored: a log
// probability that is NaN or above 0 (a probability above 1), or a
// prediction that is not a number. The answer is bad model output, not a
// low confidence; callers treat it like any failed scoring.
var ErrUnscorable = errors.New("model output cannot be scored")

// UnknownScorerError names a scorer kind that does not exist.
type UnknownScorerError struct{ Name string }

func (e *UnknownScorerError) Error() string {
	return fmt.Sprintf("unknown scorer %q (want one of %s)", e.Name, strings.Join(Names(), ", "))
}

// Input is what a scorer may look at: the conversation, the local model's
// raw answer and its token log probabilities.
type Input struct {
	Messages []models.Message
	Answer   string
	Tokens   []models.TokenLogprob
}

// Result is a confidence in [0, 1] and, when the scorer had to deviate from
// its normal method (e.g. a fallback), a short note saying so.
type Result struct {
	Score float64
	Note  string
}

// Scorer turns a local answer into a confidence in [0, 1].
type Scorer interface {
	// Name is the scorer's setting name.
	Name() string
	// Score returns the confidence, or ErrNoTokens for an empty answer.
	Score(ctx context.Context, in Input) (Result, error)
}

type scorerFunc struct {
	name string
	fn   func([]models.TokenLogprob) float64
}

func (s scorerFunc) Name() string { return s.name }

func (s scorerFunc) Score(_ context.Context, in Input) (Result, error) {
	v, err := s.score(in.Tokens)
	return Result{Score: v}, err
}

func (s scorerFunc) score(tokens []models.TokenLogprob) (float64, error) {
	if len(tokens) == 0 {
		return 0, ErrNoTokens
	}
	if err := checkLogprobs(s.name, tokens); err != nil {
		return 0, err
	}
	v := s.fn(tokens)
	if math.IsNaN(v) {
		return 0, fmt.Errorf("%s: score is NaN: %w", s.name, ErrUnscorable)
	}
	return clamp01(v), nil
}

// checkLogprobs rejects model output no scorer can read: a log probability
// (of a token or of an alternative) that is NaN or above 0 (+Inf included).
// -Inf is a probability of 0 and is kept. The slack of 1e-6 absorbs the
// rounding of servers that print log(1) as a tiny positive number.
func checkLogprobs(scorer string, tokens []models.TokenLogprob) error {
	for i, t := range tokens {
		if math.IsNaN(t.Logprob) || t.Logprob > 1e-6 {
			return fmt.Errorf("%s: token %d has invalid logprob %v: %w", scorer, i, t.Logprob, ErrUnscorable)
		}
		for _, a := range t.Top {
			if math.IsNaN(a.Logprob) || a.Logprob > 1e-6 {
				return fmt.Errorf("%s: token %d has invalid top logprob %v: %w", scorer, i, a.Logprob, ErrUnscorable)
			}
		}
	}
	return nil
}

// checkProbability rejects a prediction that is not a finite number.
func checkProbability(scorer string, p float64) error {
	if math.IsNaN(p) || math.IsInf(p, 0) {
		return fmt.Errorf("%s: prediction is %v: %w", scorer, p, ErrUnscorable)
	}
	return nil
}

var builders = map[string]func([]models.TokenLogprob) float64{
	MeanLogprob: meanLogprob,
	MinLogprob:  minLogprob,
	Entropy:     topKEntropy,
}

// Names lists the logprob scorers, sorted.
func Names() []string {
	names := make([]string, 0, len(builders))
	for n := range builders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New returns the scorer with the given name, or *UnknownScorerError.
func New(name string) (Scorer, error) {
	fn, ok := builders[name]
	if !ok {
		return nil, &UnknownScorerError{Name: name}
	}
	return scorerFunc{name: name, fn: fn}, nil
}

// meanLogprob is exp(mean token logprob) = 1/perplexity of the answer.
func meanLogprob(tokens []models.TokenLogprob) float64 {
	var sum float64
	for _, t := range tokens {
		sum += t.Logprob
	}
	return math.Exp(sum / float64(len(tokens)))
}

// minLogprob is the probability of the least likely token of the answer.
func minLogprob(tokens []models.TokenLogprob) float64 {
	m := math.Inf(1)
	for _, t := range tokens {
		m = math.Min(m, t.Logprob)
	}
	return math.Exp(m)
}

// topKEntropy is exp(-H) for the mean entropy H (nats) of the top-k
// distributions, each renormalized over its alternatives. It is 1 when every
// position is certain and 1/k when every position is uniform over k
// alternatives. Positions without alternatives count as certain only from
// their own token probability: the remaining mass goes to one "other" bucket.
// With exactly one alternative per position (top_logprobs 1) every position
// renormalizes to certainty and the score is always 1: configs.Validate
// refuses entropy with local.top_logprobs 1 (issue 14).
func topKEntropy(tokens []models.TokenLogprob) float64 {
	var sum float64
	for _, t := range tokens {
		sum += positionEntropy(t)
	}
	return math.Exp(-sum / float64(len(tokens)))
}

func positionEntropy(t models.TokenLogprob) float64 {
	ps := make([]float64, 0, len(t.Top)+1)
	if len(t.Top) == 0 {
		p := math.Exp(t.Logprob)
		ps = append(ps, p, 1-p)
	} else {
		for _, a := range t.Top {
			ps = append(ps, math.Exp(a.Logprob))
		}
	}
	var total float64
	for _, p := range ps {
		total += p
	}
	if total <= 0 {
		return 0
	}
	var h float64
	for _, p := range ps {
		if p > 0 {
			q := p / total
			h -= q * math.Log(q)
		}
	}
	return h
}

func clamp01(v float64) float64 {
	switch {
	case v < 0:
		return 0
	case v > 1:
		return 1
	}
	return v
}

// Options configure the scorers that need more than a name.
type Options struct {
	// SelfRefTokens are the confident and unsure tokens (setting
	// uq.selfref.tokens); zero means DefaultSelfRefTokens.
	SelfRefTokens [2]string
	// Fallback is the scorer selfref falls back to (uq.fallback_scorer);
	// empty means mean_logprob.
	Fallback string
}

// Build returns the named scorer: a logprob scorer or selfref.
func Build(name string, o Options) (Scorer, error) {
	if name != SelfRef {
		return New(name)
	}
	toks := o.SelfRefTokens
	if toks == [2]string{} {
		toks = DefaultSelfRefTokens
	}
	fbName := o.Fallback
	if fbName == "" {
		fbName = MeanLogprob
	}
	fb, err := New(fbName)
	if err != nil {
		return nil, fmt.Errorf("fallback scorer: %w", err)
	}
	return NewSelfRef(toks[0], toks[1], fb)
}
