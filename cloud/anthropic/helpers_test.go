package anthropic

// The tests of this package run against anthropictest, the fake server that
// follows Anthropic's documented wire format (POST /v1/messages as JSON or
// typed Server-Sent Events, GET /v1/models, the error body
// {"type":"error","error":{"type","message"},"request_id"}), because no real
// key exists here and a paid API is not to be called from tests. They use
// 127.0.0.1 only. These helpers keep the tables short.

import (
	"net/http"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/cloud/anthropic/anthropictest"
	"github.com/edgecascade/edgecascade/cloud/cloudtest"
)

const testKey = "sk-ant-api03-test-0123456789abcdefSECRET"

// answerModel is the model the test answers name.
const answerModel = anthropictest.DefaultModel

// handler answers one request; n is the request number, from 1.
type handler = func(w http.ResponseWriter, r *http.Request, n int)

func newFake(t *testing.T, h handler) *anthropictest.Server {
	return anthropictest.New(t, anthropictest.Config{Handler: h})
}

// recorded is what the fake saw of one request.
type recorded struct {
	body   map[string]any
	header http.Header
	path   string
	query  string
}

func lastRequest(f *anthropictest.Server) recorded {
	r := f.Last()
	if r == nil {
		return recorded{}
	}
	return recorded{body: r.JSON, header: r.Header, path: r.Path, query: r.Query}
}

func newTestClient(t *testing.T, baseURL string, mut func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: baseURL, Model: "claude-test", APIKey: testKey, Timeout: 5 * time.Second, MaxRetries: 2}
	if mut != nil {
		mut(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func testRequest() cloud.Request { return cloudtest.Question() }

func writeMessage(w http.ResponseWriter, text, stopReason string) {
	anthropictest.WriteMessage(w, answerModel, text, stopReason, 12, 3)
}

// sse is one Server-Sent Event.
type sse = anthropictest.Event

func messageStart() sse { return anthropictest.MessageStart(answerModel, 12) }

// fullStream is a complete answer "The capital is Paris." in three deltas.
func fullStream() []sse {
	return []sse{messageStart(), anthropictest.BlockStart(0), anthropictest.Ping(), anthropictest.TextDelta(0, "The capital"),
		anthropictest.TextDelta(0, " is"), anthropictest.TextDelta(0, " Paris."), anthropictest.BlockStop(0),
		anthropictest.MessageDelta("end_turn", 7), anthropictest.MessageStop()}
}

func asCloudError(t *testing.T, err error, status int) *cloud.Error {
	t.Helper()
	return cloudtest.CheckError(t, err, ProviderName, status)
}

func noKey(t *testing.T, err error) {
	t.Helper()
	cloudtest.NoSecret(t, err, testKey)
}
