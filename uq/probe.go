package uq

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgecascade/edgecascade/models"
)

// Probe is the name of the hidden-state probe scorer.
const Probe = "probe"

// Predictor maps a feature vector to the probability that the local answer
// is right (a trained probe, e.g. probe.Probe).
type Predictor interface {
	Predict(ctx context.Context, features []float32) (float64, error)
}

// Features is what a probe reads: the local model's hidden state for a
// text, and the chat template that renders the text.
type Features interface {
	models.FeatureExtractor
	models.Renderer
}

// AnswerText is the text an answer probe reads: the rendered conversation
// followed by the raw answer. Training and serving must use the same text.
func AnswerText(ctx context.Context, r models.Renderer, msgs []models.Message, answer string) (string, error) {
	s, err := r.Render(ctx, msgs)
	if err != nil {
		return "", err
	}
	return s + answer, nil
}

// PromptText is the text a pre-generation probe reads: the rendered
// conversation up to where the answer would begin.
func PromptText(ctx context.Context, r models.Renderer, msgs []models.Message) (string, error) {
	return r.Render(ctx, msgs)
}

type probeScorer struct {
	fx Features
	p  Predictor
}

// NewProbe returns the probe scorer: the probe's probability on the hidden
// state of the conversation plus the answer.
func NewProbe(fx Features, p Predictor) (Scorer, error) {
	if fx == nil || p == nil {
		return nil, errors.New("probe scorer: a feature source and a probe are required")
	}
	return &probeScorer{fx: fx, p: p}, nil
}

func (s *probeScorer) Name() string { return Probe }

func (s *probeScorer) Score(ctx context.Context, in Input) (Result, error) {
	text, err := AnswerText(ctx, s.fx, in.Messages, in.Answer)
	if err != nil {
		return Result{}, fmt.Errorf("probe: %w", err)
	}
	f, err := s.fx.Features(ctx, text)
	if err != nil {
		return Result{}, fmt.Errorf("probe: %w", err)
	}
	p, err := s.p.Predict(ctx, f)
	if err != nil {
		return Result{}, fmt.Errorf("probe: %w", err)
	}
	if err := checkProbability(Probe, p); err != nil {
		return Result{}, err
	}
	return Result{Score: clamp01(p)}, nil
}

// PregenProbe is the name of the pre-generation probe as a scorer (in eval
// reports): its probability from the prompt alone.
const PregenProbe = "pregen_probe"

type pregenScorer struct {
	fx Features
	p  Predictor
}

// NewPregenProbe returns the pre-generation probe as a scorer: it ignores
// the answer and reads the rendered conversation only.
func NewPregenProbe(fx Features, p Predictor) (Scorer, error) {
	if fx == nil || p == nil {
		return nil, errors.New("pregen probe scorer: a feature source and a probe are required")
	}
	return &pregenScorer{fx: fx, p: p}, nil
}

func (s *pregenScorer) Name() string { return PregenProbe }

func (s *pregenScorer) Score(ctx context.Context, in Input) (Result, error) {
	text, err := PromptText(ctx, s.fx, in.Messages)
	if err != nil {
		return Result{}, fmt.Errorf("pregen probe: %w", err)
	}
	f, err := s.fx.Features(ctx, text)
	if err != nil {
		return Result{}, fmt.Errorf("pregen probe: %w", err)
	}
	p, err := s.p.Predict(ctx, f)
	if err != nil {
		return Result{}, fmt.Errorf("pregen probe: %w", err)
	}
	if err := checkProbability(PregenProbe, p); err != nil {
		return Result{}, err
	}
	return Result{Score: clamp01(p)}, nil
}
