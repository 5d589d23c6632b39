package cloud

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// scripted is an in-memory Provider for the chain's own logic; the real
// providers are tested against their wire formats in their packages.
type scripted struct {
	name    string
	err     error
	deltas  []string
	failAt  int // stream: fail after this many deltas (-1: never)
	calls   int
	content string
}

func (s *scripted) Name() string  { return s.name }
func (s *scripted) Model() string { return s.name + "-model" }
func (s *scripted) Ping(context.Context) error {
	return s.err
}
func (s *scripted) Complete(context.Context, Request) (*Response, error) {
	s.calls++
	if s.err != nil {
		return nil, s.err
	}
	return &Response{Provider: s.name, Content: s.content, Usage: Usage{PromptTokens: 1000, CompletionTokens: 500}}, nil
}
func (s *scripted) Stream(_ context.Context, _ Request, fn DeltaFunc) (*Response, error) {
	s.calls++
	for i, d := range s.deltas {
		if i == s.failAt {
			return nil, &Error{Provider: s.name, Err: errors.New("stream cut")}
		}
		if err := fn(d); err != nil {
			return nil, err
		}
	}
	if s.err != nil {
		return nil, s.err
	}
	return &Response{Provider: s.name, Content: strings.Join(s.deltas, ""), Usage: Usage{PromptTokens: 1000, CompletionTokens: 500}}, nil
}

func down(name string) *scripted {
	return &scripted{name: name, err: &Error{Provider: name, Status: 503, Err: errors.New("overloaded")}, failAt: -1}
}

func TestChainComplete(t *testing.T) {
	a, b := down("a"), &scripted{name: "b", content: "hi", failAt: -1}
	c, err := NewChain(Entry{Provider: a}, Entry{Provider: b, Price: Price{InputPer1K: 0.5, OutputPer1K: 2}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Complete(context.Background(), Request{})
	if err != nil || resp.Provider != "b" || resp.Content != "hi" {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	if resp.Cost != 0.5+1 { // 1000 in at 0.5/1K + 500 out at 2/1K
		t.Fatalf("cost %v, want 1.5", resp.Cost)
	}
	if c.Name() != "a,b" || c.Model() != "a-model" {
		t.Fatalf("name %s model %s", c.Name(), c.Model())
	}
	// All down: every provider named, and still "unavailable".
	c2, _ := NewChain(Entry{Provider: down("a")}, Entry{Provider: down("b")})
	_, err = c2.Complete(context.Background(), Request{})
	if err == nil || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "cloud provider a") || !strings.Contains(err.Error(), "cloud provider b") {
		t.Fatalf("all down: %v", err)
	}
	if err := c2.Ping(context.Background()); err == nil {
		t.Fatal("ping of an all-down chain succeeded")
	}
	if err := c.Ping(context.Background()); err != nil { // a is down, b answers: reachable
		t.Fatalf("ping: %v", err)
	}
	if _, err := NewChain(); err == nil {
		t.Fatal("empty chain accepted")
	}
}

func TestChainStream(t *testing.T) {
	ctx := context.Background()
	collect := func(c *Chain) (string, *Response, error) {
		var sb strings.Builder
		resp, err := c.Stream(ctx, Request{}, func(d string) error { sb.WriteString(d); return nil })
		return sb.String(), resp, err
	}
	// The first fails before streaming anything: the second answers.
	b := &scripted{name: "b", deltas: []string{"he", "llo"}, failAt: -1}
	c, _ := NewChain(Entry{Provider: down("a")}, Entry{Provider: b})
	got, resp, err := collect(c)
	if err != nil || got != "hello" || resp.Provider != "b" {
		t.Fatalf("got %q %+v %v", got, resp, err)
	}
	// The first fails mid-stream: no second answer is spliced on.
	a := &scripted{name: "a", deltas: []string{"par", "tial"}, failAt: 1}
	b2 := &scripted{name: "b", deltas: []string{"x"}, failAt: -1}
	c, _ = NewChain(Entry{Provider: a}, Entry{Provider: b2})
	got, _, err = collect(c)
	if err == nil || got != "par" || b2.calls != 0 {
		t.Fatalf("mid-stream failure: got %q err %v, second called %d times", got, err, b2.calls)
	}
}

func TestChainMaxPrice(t *testing.T) {
	c, err := NewChain(Entry{Provider: down("a"), Price: Price{InputPer1K: 0.5, OutputPer1K: 1}}, Entry{Provider: down("b"), Price: Price{InputPer1K: 2, OutputPer1K: 0.25}})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.MaxPrice(); got != (Price{InputPer1K: 2, OutputPer1K: 1}) {
		t.Fatalf("MaxPrice = %+v, want the highest of each: {2 1}", got)
	}
}
