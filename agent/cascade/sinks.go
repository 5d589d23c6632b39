package cascade

import (
	"context"
	"fmt"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
)

// sink is where an answer goes: returned whole (Answer) or streamed to an
// Emitter (Stream). It is the only difference between the two.
type sink interface {
	// cloud answers from the cloud under d. A failure after text was
	// streamed is a streamStartedError: nothing can follow it.
	cloud(ctx context.Context, req Request, d Decision) (*Result, error)
	// local generates the answer of policy local under d (streamed as it
	// is generated, when streaming).
	local(ctx context.Context, req Request, d Decision) (generation, error)
	// deliver hands over a local answer the cascade settled on after
	// generating it.
	deliver(res *Result) (*Result, error)
}

// Emitter receives a streamed answer: Begin once with the decision before
// any text, then Delta for each piece of text.
type Emitter interface {
	Begin(d Decision) error
	Delta(text string) error
}

// LogprobEmitter is an Emitter that also streams the answer's token log
// probabilities, when the request asked for them (Request.Logprobs): each
// piece of text with the tokens generated for it. A cloud answer's tokens
// come with its text when the provider streams them (OpenAI-compatible
// ones), else in one piece with no text at the end of its text.
type LogprobEmitter interface {
	Emitter
	DeltaLogprobs(text string, tokens []models.TokenLogprob) error
}

// logprobEmitter is e as a LogprobEmitter when req asked for logprobs and e
// can send them.
func logprobEmitter(req Request, e Emitter) (LogprobEmitter, bool) {
	le, ok := e.(LogprobEmitter)
	return le, ok && req.Logprobs
}

// whole is the sink of Answer: complete answers, returned.
type whole struct{ c *Cascade }

func (w whole) cloud(ctx context.Context, req Request, d Decision) (*Result, error) {
	start := time.Now()
	resp, err := w.c.cloud.Complete(ctx, w.c.cloudRequest(req))
	if err != nil {
		return nil, fmt.Errorf("cloud answer: %w", err)
	}
	w.c.toCloud(&d, time.Since(start))
	return w.c.cloudResult(ctx, req, d, resp, start), nil
}

func (w whole) local(ctx context.Context, req Request, _ Decision) (generation, error) {
	g, err := w.c.generate(ctx, w.c.local, req)
	if err != nil {
		return g, fmt.Errorf("local answer: %w", err)
	}
	return g, nil
}

func (whole) deliver(res *Result) (*Result, error) { return res, nil }

// streamed is the sink of Stream: answers streamed to an Emitter.
type streamed struct {
	c   *Cascade
	e   Emitter
	req Request
}

func (s *streamed) cloud(ctx context.Context, req Request, d Decision) (*Result, error) {
	s.c.toCloud(&d, 0)
	began := false
	start := time.Now()
	cr := s.c.cloudRequest(req)
	// A provider that streams its tokens gives each chunk's before the
	// chunk's text: they go out with that text. pending holds them.
	le, withLogprobs := logprobEmitter(req, s.e)
	var pending []models.TokenLogprob
	perChunk := false
	if withLogprobs {
		cr.LogprobsFunc = func(toks []models.TokenLogprob) error {
			pending = append(pending, toks...)
			return nil
		}
	}
	resp, err := s.c.cloud.Stream(ctx, cr, func(delta string) error {
		if !began {
			began = true
			if err := s.e.Begin(d); err != nil {
				return err
			}
		}
		if len(pending) > 0 {
			toks := pending
			pending, perChunk = nil, true
			return le.DeltaLogprobs(delta, toks)
		}
		return s.e.Delta(delta)
	})
	if err != nil {
		err = fmt.Errorf("cloud answer: %w", err)
		if began {
			return nil, &streamStartedError{err}
		}
		return nil, err
	}
	if !began {
		if err := s.e.Begin(d); err != nil {
			return nil, err
		}
	}
	// The tokens not sent with text yet: all of them when the provider
	// gave them only at the end.
	if !perChunk {
		pending = resp.Logprobs
	}
	if withLogprobs && len(pending) > 0 {
		if err := le.DeltaLogprobs("", pending); err != nil {
			return nil, &streamStartedError{fmt.Errorf("cloud answer: %w", err)}
		}
	}
	d.Stages[len(d.Stages)-1].LatencyMS = ms(time.Since(start))
	return s.c.cloudResult(ctx, req, d, resp, start), nil
}

func (s *streamed) local(ctx context.Context, req Request, d Decision) (generation, error) {
	began := false
	ss := s.c.strip.Stream()
	le, withLogprobs := logprobEmitter(req, s.e)
	// pending are the tokens of text the strip stream still holds.
	var pending []models.TokenLogprob
	emit := func(text string) error {
		if !withLogprobs {
			return s.e.Delta(text)
		}
		toks := pending
		pending = nil
		return le.DeltaLogprobs(text, toks)
	}
	start := time.Now()
	resp, err := s.c.local.ChatStream(ctx, s.c.localRequest(req), func(ch models.Chunk) error {
		if !began {
			began = true
			if err := s.e.Begin(d); err != nil {
				return err
			}
		}
		pending = append(pending, ch.Tokens...)
		if text := ss.Write(ch.Content); text != "" {
			return emit(text)
		}
		return nil
	})
	if err == nil {
		if rest := ss.Flush(); rest != "" || len(pending) > 0 && withLogprobs {
			err = emit(rest)
		}
	}
	if err != nil {
		err = fmt.Errorf("local answer: %w", err)
		if began {
			return generation{}, &streamStartedError{err}
		}
		return generation{}, err
	}
	if !began {
		if err := s.e.Begin(d); err != nil {
			return generation{}, err
		}
	}
	return generation{resp: resp, latency: time.Since(start)}, nil
}

func (s *streamed) deliver(res *Result) (*Result, error) {
	if err := s.e.Begin(res.Decision); err != nil {
		return nil, err
	}
	if le, ok := logprobEmitter(s.req, s.e); ok && (res.Content != "" || len(res.Logprobs) > 0) {
		if err := le.DeltaLogprobs(res.Content, res.Logprobs); err != nil {
			return nil, err
		}
		return res, nil
	}
	if res.Content != "" {
		if err := s.e.Delta(res.Content); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// cloudResult is the result of a cloud answer: the decision names the
// provider and model that answered.
func (c *Cascade) cloudResult(ctx context.Context, req Request, d Decision, resp *cloud.Response, start time.Time) *Result {
	d.CloudProvider = resp.Provider
	if resp.Model != "" {
		d.CloudModel = resp.Model
	}
	if len(resp.NotSent) > 0 {
		d.add(notSentCause(resp.Provider, resp.NotSent))
	}
	if req.Logprobs && len(resp.Logprobs) == 0 {
		d.add(noLogprobsCause(resp.Provider))
	}
	return &Result{
		Content: resp.Content, FinishReason: resp.FinishReason, Decision: d, CloudLatency: time.Since(start),
		Usage: c.cloudUsage(ctx, req, resp), Cost: resp.Cost, Logprobs: resp.Logprobs, ToolCalls: resp.ToolCalls,
	}
}
