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

// whole is the sink of Answer: complete answers, returned.
type whole struct{ c *Cascade }

func (w whole) cloud(ctx context.Context, req Request, d Decision) (*Result, error) {
	start := time.Now()
	resp, err := w.c.cloud.Complete(ctx, w.c.cloudRequest(req))
	if err != nil {
		return nil, fmt.Errorf("cloud answer: %w", err)
	}
	d.Route = RouteCloud
	return w.c.cloudResult(ctx, req, d, resp, start), nil
}

func (w whole) local(ctx context.Context, req Request, _ Decision) (generation, error) {
	g, err := w.c.generate(ctx, req)
	if err != nil {
		return g, fmt.Errorf("local answer: %w", err)
	}
	return g, nil
}

func (whole) deliver(res *Result) (*Result, error) { return res, nil }

// streamed is the sink of Stream: answers streamed to an Emitter.
type streamed struct {
	c *Cascade
	e Emitter
}

func (s *streamed) cloud(ctx context.Context, req Request, d Decision) (*Result, error) {
	d.Route = RouteCloud
	began := false
	start := time.Now()
	resp, err := s.c.cloud.Stream(ctx, s.c.cloudRequest(req), func(delta string) error {
		if !began {
			began = true
			if err := s.e.Begin(d); err != nil {
				return err
			}
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
	return s.c.cloudResult(ctx, req, d, resp, start), nil
}

func (s *streamed) local(ctx context.Context, req Request, d Decision) (generation, error) {
	began := false
	ss := s.c.strip.Stream()
	start := time.Now()
	resp, err := s.c.local.ChatStream(ctx, s.c.localRequest(req), func(ch models.Chunk) error {
		if !began {
			began = true
			if err := s.e.Begin(d); err != nil {
				return err
			}
		}
		if text := ss.Write(ch.Content); text != "" {
			return s.e.Delta(text)
		}
		return nil
	})
	if err == nil {
		if rest := ss.Flush(); rest != "" {
			err = s.e.Delta(rest)
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
	return &Result{
		Content: resp.Content, FinishReason: resp.FinishReason, Decision: d, CloudLatency: time.Since(start),
		Usage: c.cloudUsage(ctx, req, resp), Cost: resp.Cost, Logprobs: resp.Logprobs,
	}
}
