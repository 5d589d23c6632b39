package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/mock"
	"github.com/edgecascade/edgecascade/uq"
)

// nanLocal is a fake local model whose Self-REF confidence token carries
// absurd log probabilities (both tokens at +1000: exp overflows, and the
// score is Inf/Inf = NaN), so that the answer's confidence cannot be
// encoded as JSON.
func nanLocal() *mock.Model {
	m := fakeLocal()
	m.Answer.Content = fakeLocalAnswer + "<CN>"
	m.Answer.Tokens = append(mock.Tokens(fakeLocalAnswer, -0.1), models.TokenLogprob{Token: "<CN>", Logprob: 1000,
		Top: []models.TopLogprob{{Token: "<CN>", Logprob: 1000}, {Token: "<UN>", Logprob: 1000}}})
	return m
}

// TestUnencodableAnswer (issue 14, item 7): an answer whose body cannot be
// encoded is never a 200 with an empty body: either the body decodes, or
// the request fails with a 500 in its API's error shape.
func TestUnencodableAnswer(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, local: nanLocal(), scorer: uq.SelfRef, strip: confTokens})
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	for _, tc := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"local",` + msgs + `}`},
		{"/api/chat", `{"model":"local","stream":false,` + msgs + `}`},
		{"/api/generate", `{"model":"local","stream":false,"prompt":"hi"}`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, raw := post(t, d.URL+tc.path, tc.body)
			switch resp.StatusCode {
			case http.StatusOK:
				var v map[string]any
				if err := json.Unmarshal(raw, &v); err != nil {
					t.Fatalf("200 with a body that does not decode (%v): %q", err, raw)
				}
			case http.StatusInternalServerError:
				errorShape(t, tc.path, raw)
			default:
				t.Fatalf("status %d: %s", resp.StatusCode, raw)
			}
		})
	}
}
