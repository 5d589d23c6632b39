// Package mock is the one fake cloud provider for tests: a cloud.Provider
// whose behaviour is set per test through function fields (litestream's
// mock style). Tests of the real providers' wire formats use their own
// httptest servers; this fake stands in wherever a test is about what the
// cascade does with a provider's answer or error.
package mock

import (
	"context"
	"sync/atomic"

	"github.com/edgecascade/edgecascade/cloud"
)

// Provider is a fake cloud provider.
type Provider struct {
	// ProviderName is what Name returns ("mock" when empty).
	ProviderName string
	// ModelName is what Model returns ("mock-cloud" when empty).
	ModelName string
	// CompleteFunc answers Complete. Nil: Answer.
	CompleteFunc func(ctx context.Context, req cloud.Request) (*cloud.Response, error)
	// StreamFunc answers Stream. Nil: CompleteFunc's answer (or Answer)
	// sent as one delta.
	StreamFunc func(ctx context.Context, req cloud.Request, fn cloud.DeltaFunc) (*cloud.Response, error)
	// PingFunc answers Ping. Nil: nil.
	PingFunc func(ctx context.Context) error
	// Answer is the answer when CompleteFunc is nil.
	Answer cloud.Response

	calls atomic.Int64
}

var _ cloud.Provider = (*Provider)(nil)

// Name implements cloud.Provider.
func (p *Provider) Name() string {
	if p.ProviderName == "" {
		return "mock"
	}
	return p.ProviderName
}

// Model implements cloud.Provider.
func (p *Provider) Model() string {
	if p.ModelName == "" {
		return "mock-cloud"
	}
	return p.ModelName
}

// Calls is how many Complete and Stream calls the provider received.
func (p *Provider) Calls() int { return int(p.calls.Load()) }

// Complete implements cloud.Provider.
func (p *Provider) Complete(ctx context.Context, req cloud.Request) (*cloud.Response, error) {
	p.calls.Add(1)
	return p.complete(ctx, req)
}

func (p *Provider) complete(ctx context.Context, req cloud.Request) (*cloud.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p.CompleteFunc != nil {
		return p.CompleteFunc(ctx, req)
	}
	resp := p.Answer
	if resp.Provider == "" {
		resp.Provider = p.Name()
	}
	if resp.Model == "" {
		resp.Model = p.Model()
	}
	if resp.FinishReason == "" {
		resp.FinishReason = "stop"
	}
	return &resp, nil
}

// Stream implements cloud.Provider.
func (p *Provider) Stream(ctx context.Context, req cloud.Request, fn cloud.DeltaFunc) (*cloud.Response, error) {
	p.calls.Add(1)
	if p.StreamFunc != nil {
		return p.StreamFunc(ctx, req, fn)
	}
	resp, err := p.complete(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.Content != "" {
		if err := fn(resp.Content); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// Ping implements cloud.Provider.
func (p *Provider) Ping(ctx context.Context) error {
	if p.PingFunc != nil {
		return p.PingFunc(ctx)
	}
	return nil
}
