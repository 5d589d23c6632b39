// Package cloudtest is the contract every cloud provider (cloud.Provider)
// must meet, as one suite with the same cases and assertions for each, as
// models/modeltest is for local backends: the OpenAI-compatible provider
// (cloud/openai), the Anthropic provider (cloud/anthropic) and the provider
// chain (cloud.Chain) all call Run.
//
// A paid API cannot be called from tests, so each provider is driven against
// a fake HTTP server that follows that provider's documented wire format:
// cloud/openai/openaitest (OpenAI chat completions, streamed as Server-Sent
// Events ended by "data: [DONE]") and cloud/anthropic/anthropictest
// (Anthropic Messages, streamed as typed SSE events ended by message_stop).
// Each fake supplies a small adapter, a Fake (openaitest.Server.Fake,
// anthropictest.Server.Fake), that tells it what to do in the suite's words
// (answer these pieces, fail with this status, cut the stream, ...); each
// provider's test builds the provider against it (contract_test.go in
// cloud/openai and cloud/anthropic, chain_test.go in cloud).
package cloudtest

import (
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
)

// Behavior is what the suite asks a fake server to do on the calls that
// follow. The zero Behavior answers Pieces normally; at most one fault is
// set at a time, except Echo with ErrorEvent or Malformed.
type Behavior struct {
	// Pieces is the answer: a complete answer is their concatenation, a
	// stream sends one text delta per piece, then ends as the wire format
	// says. The usage is PromptTokens and CompletionTokens.
	Pieces []string
	// Length ends the answer on the token cap: the wire format's reason,
	// which the provider reports as finish reason "length".
	Length bool
	// Status fails every call (Ping included) with this HTTP status and the
	// wire format's error body, and RetryAfter (seconds) when not empty.
	Status     int
	RetryAfter string
	// Cut drops the connection mid-answer: a stream after the first piece,
	// a complete answer halfway through its body.
	Cut bool
	// Malformed sends invalid JSON mid-answer: a stream after the first
	// piece, a complete answer as a cut body.
	Malformed bool
	// ErrorEvent ends a stream after the first piece with the wire format's
	// error event.
	ErrorEvent bool
	// Stall sends the first piece of a stream (a complete answer's headers),
	// then nothing until the client gives up.
	Stall bool
	// Hang accepts every call (Ping included) and never answers.
	Hang bool
	// ToolCalls end the answer with these tool calls, as the wire format
	// says (a stream sends each call's arguments in pieces); the provider
	// reports finish reason "tool_calls".
	ToolCalls []models.ToolCall
	// Echo fails every call with 400 whose message echoes the request's
	// headers, API key included; with ErrorEvent or Malformed, the echo is
	// in the stream's error event or bad event instead.
	Echo bool
}

// The usage every fake reports for an answer.
const (
	PromptTokens     = 12
	CompletionTokens = 3
)

// Fake is a provider's fake server (or, for a chain, its providers'
// servers) as the suite drives it.
type Fake interface {
	// Set chooses what the server does from now on and resets Attempts.
	Set(b Behavior)
	// Attempts counts the answer calls (not pings) since the last Set; for
	// several servers, the most any one of them saw.
	Attempts() int
	// Last returns the last request received (the first server's, for
	// several).
	Last() *Request
	// Requests returns every request received, pings included (the first
	// server's, for several).
	Requests() []*Request
}

// Config is how the suite wants a provider built.
type Config struct {
	// Refused points the provider at an address where nothing listens
	// (Target.Fake is then nil).
	Refused bool
	// Timeout bounds one HTTP attempt (the suite always sets it).
	Timeout time.Duration
	// MaxRetries is the retries of a failed attempt.
	MaxRetries int
}

// Target is a provider under test and its fake.
type Target struct {
	Provider cloud.Provider
	Fake     Fake
	// Keys are the API keys the provider holds: none may appear in an
	// error, and the fake must have received the first.
	Keys []string
	// Answerer is the provider name an answer's Response carries (and the
	// first *cloud.Error of a failure).
	Answerer string
	// Model is the model name the fake's answers carry.
	Model string
}

// NewFunc starts a fake and a provider against it, configured as cfg says.
// Servers must be closed at the end of the test (t.Cleanup).
type NewFunc func(t *testing.T, cfg Config) Target

// defaultTimeout bounds each attempt unless a case needs it short.
const defaultTimeout = 5 * time.Second

// pieces is the answer the suite asks for.
var pieces = []string{"The capital", " is", " Paris."}

// Join drives several fakes as one, for a chain of providers each with its
// own server: Set sets each, Attempts is the most any one saw, Last is the
// first's.
func Join(fakes ...Fake) Fake { return joined(fakes) }

type joined []Fake

func (j joined) Set(b Behavior) {
	for _, f := range j {
		f.Set(b)
	}
}

func (j joined) Attempts() int {
	n := 0
	for _, f := range j {
		n = max(n, f.Attempts())
	}
	return n
}

func (j joined) Last() *Request { return j[0].Last() }

func (j joined) Requests() []*Request { return j[0].Requests() }
