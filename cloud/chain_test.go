package cloud_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/cloud/anthropic"
	"github.com/edgecascade/edgecascade/cloud/anthropic/anthropictest"
	"github.com/edgecascade/edgecascade/cloud/cloudtest"
	"github.com/edgecascade/edgecascade/cloud/mock"
	"github.com/edgecascade/edgecascade/cloud/openai"
	"github.com/edgecascade/edgecascade/cloud/openai/openaitest"
	"github.com/edgecascade/edgecascade/models"
)

// The chain's own logic runs over mock providers; TestChainContract runs the
// provider contract over chains of the real providers, each against the fake
// server of its documented wire format.

var usage = cloud.Usage{PromptTokens: 1000, CompletionTokens: 500}

func down(name string) *mock.Provider {
	err := &cloud.Error{Provider: name, Status: 503, Err: errors.New("overloaded")}
	return &mock.Provider{
		ProviderName: name,
		ModelName:    name + "-model",
		CompleteFunc: func(context.Context, cloud.Request) (*cloud.Response, error) { return nil, err },
		PingFunc:     func(context.Context) error { return err },
	}
}

// streaming sends deltas, each after its token (to req.LogprobsFunc), then
// fails with a cut when failAt is one of them (-1: never), after its token.
func streaming(name string, failAt int, deltas ...string) *mock.Provider {
	return &mock.Provider{
		ProviderName: name,
		StreamFunc: func(_ context.Context, req cloud.Request, fn cloud.DeltaFunc) (*cloud.Response, error) {
			for i, d := range deltas {
				if req.LogprobsFunc != nil {
					if err := req.LogprobsFunc([]models.TokenLogprob{{Token: name + ":" + d}}); err != nil {
						return nil, err
					}
				}
				if i == failAt {
					return nil, &cloud.Error{Provider: name, Err: errors.New("stream cut")}
				}
				if err := fn(d); err != nil {
					return nil, err
				}
			}
			return &cloud.Response{Provider: name, Content: strings.Join(deltas, ""), Usage: usage}, nil
		},
	}
}

func TestChainComplete(t *testing.T) {
	a, b := down("a"), &mock.Provider{ProviderName: "b", Answer: cloud.Response{Content: "hi", Usage: usage}}
	c, err := cloud.NewChain(cloud.Entry{Provider: a}, cloud.Entry{Provider: b, Price: cloud.Price{InputPer1K: 0.5, OutputPer1K: 2}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Complete(context.Background(), cloud.Request{})
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
	c2, _ := cloud.NewChain(cloud.Entry{Provider: down("a")}, cloud.Entry{Provider: down("b")})
	_, err = c2.Complete(context.Background(), cloud.Request{})
	if err == nil || !errors.Is(err, cloud.ErrUnavailable) || !strings.Contains(err.Error(), "cloud provider a") || !strings.Contains(err.Error(), "cloud provider b") {
		t.Fatalf("all down: %v", err)
	}
	if err := c2.Ping(context.Background()); err == nil {
		t.Fatal("ping of an all-down chain succeeded")
	}
	if err := c.Ping(context.Background()); err != nil { // a is down, b answers: reachable
		t.Fatalf("ping: %v", err)
	}
	if _, err := cloud.NewChain(); err == nil {
		t.Fatal("empty chain accepted")
	}
}

func TestChainStream(t *testing.T) {
	ctx := context.Background()
	collect := func(c *cloud.Chain) (string, *cloud.Response, error) {
		var sb strings.Builder
		resp, err := c.Stream(ctx, cloud.Request{}, func(d string) error { sb.WriteString(d); return nil })
		return sb.String(), resp, err
	}
	// The first fails before streaming anything: the second answers.
	b := streaming("b", -1, "he", "llo")
	c, _ := cloud.NewChain(cloud.Entry{Provider: down("a")}, cloud.Entry{Provider: b})
	got, resp, err := collect(c)
	if err != nil || got != "hello" || resp.Provider != "b" {
		t.Fatalf("got %q %+v %v", got, resp, err)
	}
	// The first fails mid-stream: no second answer is spliced on.
	a := streaming("a", 1, "par", "tial")
	b2 := streaming("b", -1, "x")
	c, _ = cloud.NewChain(cloud.Entry{Provider: a}, cloud.Entry{Provider: b2})
	got, _, err = collect(c)
	if err == nil || got != "par" || b2.Calls() != 0 {
		t.Fatalf("mid-stream failure: got %q err %v, second called %d times", got, err, b2.Calls())
	}
}

// A provider's streamed tokens reach the caller with its text; those of a
// provider that failed before any text are dropped with it.
func TestChainStreamLogprobs(t *testing.T) {
	c, _ := cloud.NewChain(cloud.Entry{Provider: streaming("a", 0, "x")}, cloud.Entry{Provider: streaming("b", -1, "he", "llo")})
	var events []string
	req := cloud.Request{Logprobs: true, LogprobsFunc: func(toks []models.TokenLogprob) error {
		for _, t := range toks {
			events = append(events, t.Token)
		}
		return nil
	}}
	_, err := c.Stream(context.Background(), req, func(d string) error { events = append(events, d); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(events, " "); got != "b:he he b:llo llo" {
		t.Fatalf("events %q", got)
	}
}

func TestChainMaxPrice(t *testing.T) {
	c, err := cloud.NewChain(cloud.Entry{Provider: down("a"), Price: cloud.Price{InputPer1K: 0.5, OutputPer1K: 1}}, cloud.Entry{Provider: down("b"), Price: cloud.Price{InputPer1K: 2, OutputPer1K: 0.25}})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.MaxPrice(); got != (cloud.Price{InputPer1K: 2, OutputPer1K: 1}) {
		t.Fatalf("MaxPrice = %+v, want the highest of each: {2 1}", got)
	}
}

const (
	openaiKey    = "sk-chain-openai-0123456789SECRET"
	anthropicKey = "sk-ant-chain-0123456789SECRET"
)

// TestChainContract runs the provider contract over a chain of one
// OpenAI-compatible provider, and over a chain of it and an Anthropic
// provider whose servers both do what the suite asks (so a failure is each
// provider's in turn, and the first answers).
func TestChainContract(t *testing.T) {
	newOpenAI := func(t *testing.T, cfg cloudtest.Config) (cloud.Provider, cloudtest.Fake) {
		url := cloudtest.RefusedURL(t) + "/v1"
		var fake cloudtest.Fake
		if !cfg.Refused {
			s := openaitest.New(t, openaitest.Config{})
			url, fake = s.BaseURL(), s.Fake()
		}
		p, err := openai.New(openai.Config{BaseURL: url, Model: "gpt-test", APIKey: openaiKey, Timeout: cfg.Timeout, MaxRetries: cfg.MaxRetries})
		if err != nil {
			t.Fatal(err)
		}
		return p, fake
	}
	newAnthropic := func(t *testing.T, cfg cloudtest.Config) (cloud.Provider, cloudtest.Fake) {
		url := cloudtest.RefusedURL(t)
		var fake cloudtest.Fake
		if !cfg.Refused {
			s := anthropictest.New(t, anthropictest.Config{})
			url, fake = s.URL, s.Fake()
		}
		p, err := anthropic.New(anthropic.Config{BaseURL: url, Model: "claude-test", APIKey: anthropicKey, Timeout: cfg.Timeout, MaxRetries: cfg.MaxRetries})
		if err != nil {
			t.Fatal(err)
		}
		return p, fake
	}
	t.Run("one", func(t *testing.T) {
		cloudtest.Run(t, func(t *testing.T, cfg cloudtest.Config) cloudtest.Target {
			p, fake := newOpenAI(t, cfg)
			c, err := cloud.NewChain(cloud.Entry{Provider: p, Price: cloud.Price{InputPer1K: 1, OutputPer1K: 2}})
			if err != nil {
				t.Fatal(err)
			}
			return cloudtest.Target{Provider: c, Fake: fake, Keys: []string{openaiKey}, Answerer: openai.ProviderName, Model: openaitest.DefaultModel}
		})
	})
	t.Run("two", func(t *testing.T) {
		cloudtest.Run(t, func(t *testing.T, cfg cloudtest.Config) cloudtest.Target {
			p1, f1 := newOpenAI(t, cfg)
			p2, f2 := newAnthropic(t, cfg)
			c, err := cloud.NewChain(cloud.Entry{Provider: p1}, cloud.Entry{Provider: p2})
			if err != nil {
				t.Fatal(err)
			}
			var fake cloudtest.Fake
			if !cfg.Refused {
				fake = cloudtest.Join(f1, f2)
			}
			return cloudtest.Target{Provider: c, Fake: fake, Keys: []string{openaiKey, anthropicKey}, Answerer: openai.ProviderName, Model: openaitest.DefaultModel}
		})
	})
}

// TestChainStreamNilFunc: like the providers, the chain takes a nil delta
// func (the deltas are dropped, the whole answer returned).
func TestChainStreamNilFunc(t *testing.T) {
	p := &mock.Provider{Answer: cloud.Response{Content: "Paris"}}
	c, err := cloud.NewChain(cloud.Entry{Provider: p})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Stream(context.Background(), cloud.Request{}, nil)
	if err != nil || resp.Content != "Paris" {
		t.Fatalf("%+v %v", resp, err)
	}
}
