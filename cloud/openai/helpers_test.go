package openai

// The tests of this package run against openaitest, the fake server that
// follows OpenAI's documented wire format for /v1/chat/completions (JSON,
// and SSE chunks ended by "data: [DONE]"), /v1/models and the error body
// {"error":{"message","type","param","code"}}, because a paid API cannot be
// called here. They use 127.0.0.1 only. These helpers keep the tables short.

import (
	"net/http"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/cloud/cloudtest"
	"github.com/edgecascade/edgecascade/cloud/openai/openaitest"
)

const testKey = "sk-test-0123456789abcdefSECRET"

// answerModel is the model the test answers name.
const answerModel = "gpt-test-0613"

// handler answers one request; n is the request number, from 1.
type handler = func(w http.ResponseWriter, r *http.Request, n int)

func newFake(t *testing.T, h handler) *openaitest.Server {
	return openaitest.New(t, openaitest.Config{Handler: h})
}

// last is the last request's body, Authorization header and path.
func last(f *openaitest.Server) (map[string]any, string, string) {
	r := f.Last()
	if r == nil {
		return nil, "", ""
	}
	return r.JSON, r.Header.Get("Authorization"), r.Path
}

func newTestClient(t *testing.T, baseURL string, mut func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: baseURL + "/v1", Model: "gpt-test", APIKey: testKey, Timeout: 5 * time.Second, MaxRetries: 2}
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

func writeCompletion(w http.ResponseWriter, content string) {
	openaitest.WriteCompletion(w, answerModel, content, "stop", 12, 3)
}

func chunk(delta, finish string) string { return openaitest.Chunk(answerModel, delta, finish) }

var (
	roleChunk  = openaitest.RoleChunk(answerModel)
	usageChunk = openaitest.UsageChunk(answerModel, 12, 3)
)

func asCloudError(t *testing.T, err error, status int) *cloud.Error {
	t.Helper()
	return cloudtest.CheckError(t, err, ProviderName, status)
}

func noKey(t *testing.T, err error) {
	t.Helper()
	cloudtest.NoSecret(t, err, testKey)
}
