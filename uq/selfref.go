package uq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/edgecascade/edgecascade/models"
)

// SelfRef is the name of the Self-REF confidence-token scorer.
const SelfRef = "selfref"

// DefaultSelfRefTokens are the Self-REF confidence tokens: confident, unsure.
var DefaultSelfRefTokens = [2]string{"<CN>", "<UN>"}

// selfRef reads the confidence token a Self-REF model emits after its
// answer: confidence = p(CN) / (p(CN) + p(UN)) at that position, from the
// token's own log probability and its top alternatives. When the answer has
// no confidence token, or neither token is among the alternatives there, it
// falls back to another scorer and says so in the note.
type selfRef struct {
	cn, un   string
	fallback Scorer
}

// NewSelfRef returns the Self-REF scorer for the given confident and unsure
// token strings, falling back to fallback.
func NewSelfRef(confident, unsure string, fallback Scorer) (Scorer, error) {
	if confident == "" || unsure == "" || confident == unsure {
		return nil, fmt.Errorf("selfref: want two different confidence tokens, got %q and %q", confident, unsure)
	}
	if fallback == nil {
		return nil, errors.New("selfref: a fallback scorer is required")
	}
	if fallback.Name() == SelfRef {
		return nil, errors.New("selfref: the fallback scorer cannot be selfref itself")
	}
	return &selfRef{cn: confident, un: unsure, fallback: fallback}, nil
}

func (s *selfRef) Name() string { return SelfRef }

func (s *selfRef) Score(ctx context.Context, in Input) (Result, error) {
	// Bad output anywhere (the confidence token, its alternatives, the
	// answer's tokens) makes the answer unscorable, never a NaN score or a
	// silent fallback.
	if err := checkLogprobs(SelfRef, in.Tokens); err != nil {
		return Result{}, err
	}
	pos := -1
	for i := len(in.Tokens) - 1; i >= 0; i-- {
		if t := in.Tokens[i].Token; t == s.cn || t == s.un {
			pos = i
			break
		}
	}
	if pos >= 0 {
		pcn, pun := s.probs(in.Tokens[pos])
		if pcn+pun > 0 {
			return Result{Score: pcn / (pcn + pun)}, nil
		}
	}
	// Fall back on the answer's own tokens, without confidence tokens.
	fb := in
	fb.Tokens = StripTokenList(in.Tokens, s.cn, s.un)
	r, err := s.fallback.Score(ctx, fb)
	if err != nil {
		return r, fmt.Errorf("selfref fallback %s: %w", s.fallback.Name(), err)
	}
	why := "no confidence token in the answer"
	if pos >= 0 {
		why = "neither confidence token in the top alternatives"
	}
	r.Note = fmt.Sprintf("selfref: %s; fell back to %s", why, s.fallback.Name())
	return r, nil
}

// probs returns p(CN) and p(UN) at a position.
func (s *selfRef) probs(t models.TokenLogprob) (pcn, pun float64) {
	seen := map[string]bool{}
	add := func(tok string, lp float64) {
		if seen[tok] {
			return
		}
		seen[tok] = true
		switch tok {
		case s.cn:
			pcn = math.Exp(lp)
		case s.un:
			pun = math.Exp(lp)
		}
	}
	add(t.Token, t.Logprob)
	for _, a := range t.Top {
		add(a.Token, a.Logprob)
	}
	return pcn, pun
}

// StripTokenList returns tokens without the given token strings.
func StripTokenList(tokens []models.TokenLogprob, strip ...string) []models.TokenLogprob {
	out := make([]models.TokenLogprob, 0, len(tokens))
	for _, t := range tokens {
		drop := false
		for _, s := range strip {
			if t.Token == s {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, t)
		}
	}
	return out
}

// Stripper removes confidence tokens from text shown to users or sent to the
// cloud.
type Stripper struct{ tokens []string }

// NewStripper returns a stripper for the given token strings (empty ones are
// ignored).
func NewStripper(tokens ...string) Stripper {
	var ts []string
	for _, t := range tokens {
		if t != "" {
			ts = append(ts, t)
		}
	}
	return Stripper{tokens: ts}
}

// Strip removes every occurrence of the tokens in one pass: text that only
// forms a token once another is removed ("<C<CN>N>" -> "<CN>") is the
// model's text, not its confidence token, and stays.
func (s Stripper) Strip(text string) string {
	if len(s.tokens) == 0 {
		return text
	}
	var b strings.Builder
	for i := 0; i < len(text); {
		matched := false
		for _, t := range s.tokens {
			if strings.HasPrefix(text[i:], t) {
				i += len(t)
				matched = true
				break
			}
		}
		if !matched {
			b.WriteByte(text[i])
			i++
		}
	}
	return b.String()
}

// StripMessages returns a copy of msgs with the tokens removed from every
// message.
func (s Stripper) StripMessages(msgs []models.Message) []models.Message {
	if len(s.tokens) == 0 {
		return msgs
	}
	out := make([]models.Message, len(msgs))
	for i, m := range msgs {
		out[i] = m
		out[i].Content = s.Strip(m.Content)
	}
	return out
}

// Stream returns a streaming stripper: text written to it comes out without
// the tokens, even when a token is split across writes.
func (s Stripper) Stream() *StreamStripper { return &StreamStripper{s: s} }

// StreamStripper strips tokens from a stream of text pieces. It runs Strip's
// left-to-right scan incrementally and stops at the first position where the
// text received so far cannot yet decide Strip's choice (what is left is a
// proper prefix of a token): that tail is held back until more text, or
// Flush, decides it. So a token that ends inside a held tail, or tokens that
// overlap ("ab", "bc"), come out exactly as Strip over the whole stream.
type StreamStripper struct {
	s       Stripper
	pending string
}

// Write takes the next piece and returns the text that is safe to emit. The
// result equals Strip over the whole stream once Flush is added.
func (ss *StreamStripper) Write(piece string) string {
	raw := ss.pending + piece
	var b strings.Builder
	i := 0
scan:
	for i < len(raw) {
		rest := raw[i:]
		for _, t := range ss.s.tokens {
			if len(rest) < len(t) && strings.HasPrefix(t, rest) {
				break scan // undecided: more text may complete this token
			}
		}
		matched := false
		for _, t := range ss.s.tokens {
			if strings.HasPrefix(rest, t) {
				i += len(t)
				matched = true
				break
			}
		}
		if !matched {
			b.WriteByte(raw[i])
			i++
		}
	}
	ss.pending = raw[i:]
	return b.String()
}

// Flush returns what is held back at the end of the stream.
func (ss *StreamStripper) Flush() string {
	p := ss.pending
	ss.pending = ""
	return ss.s.Strip(p)
}
