package anthropic

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/edgecascade/edgecascade/models"
)

// Stop sequences are sent; the options the Messages API cannot take are
// not (docs/api.md).
func TestOptionsWireFormat(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { writeMessage(w, "ok", "end_turn") })
	c := newTestClient(t, f.URL, nil)
	req := testRequest()
	seed, topP, topK := int64(7), 0.9, 5
	req.Options = models.Options{Stop: []string{"END"}, Seed: &seed, TopP: &topP, TopK: &topK, Format: &models.Format{}, User: "u-1"}
	resp, err := c.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(resp.NotSent); got != "[top_p top_k seed response_format]" {
		t.Errorf("NotSent = %s", got)
	}
	b := lastRequest(f).body
	if got := fmt.Sprint(b["stop_sequences"]); got != "[END]" {
		t.Errorf("stop_sequences = %s", got)
	}
	if got := fmt.Sprint(b["metadata"]); got != "map[user_id:u-1]" {
		t.Errorf("metadata = %s, want the user as user_id", got)
	}
	for _, k := range []string{"seed", "top_p", "top_k", "response_format", "frequency_penalty"} {
		if _, ok := b[k]; ok {
			t.Errorf("%s sent: %v", k, b)
		}
	}
}
