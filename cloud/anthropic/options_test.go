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
	seed, topP := int64(7), 0.9
	req.Options = models.Options{Stop: []string{"END"}, Seed: &seed, TopP: &topP, Format: &models.Format{}}
	resp, err := c.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(resp.NotSent); got != "[top_p seed response_format]" {
		t.Errorf("NotSent = %s", got)
	}
	b := lastRequest(f).body
	if got := fmt.Sprint(b["stop_sequences"]); got != "[END]" {
		t.Errorf("stop_sequences = %s", got)
	}
	for _, k := range []string{"seed", "top_p", "response_format", "frequency_penalty"} {
		if _, ok := b[k]; ok {
			t.Errorf("%s sent: %v", k, b)
		}
	}
}
