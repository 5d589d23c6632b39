package cascade_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/agent/cascade"
	cloudmock "github.com/edgecascade/edgecascade/cloud/mock"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/mock"
	"github.com/edgecascade/edgecascade/uq"
)

// A completion (raw or fill-in-the-middle) is the local model's: under auto
// it is answered locally and scored but never escalated, however low its
// score, with the reason; under cloud it is a CompletionError; the cloud is
// never called. Answer and Stream alike.
func TestCompletionRouting(t *testing.T) {
	unsure := models.Response{Content: "mid", Tokens: mock.Tokens("mid", math.Log(0.1)), FinishReason: "stop"}
	for _, mode := range []string{"answer", "stream"} {
		for _, tc := range []struct {
			policy cascade.Policy
			cmpl   models.Completion
			reason string
			err    bool
		}{
			{cascade.PolicyAuto, models.Completion{Prompt: "a", Suffix: "b"}, "suffix completion: provider mock takes chat requests only; answered locally, not escalated", false},
			{cascade.PolicyAuto, models.Completion{Prompt: "a", Raw: true}, "raw completion: provider mock", false},
			{cascade.PolicyLocal, models.Completion{Prompt: "a", Suffix: "b"}, "policy local", false},
			{cascade.PolicyCloud, models.Completion{Prompt: "a", Suffix: "b"}, "", true},
		} {
			t.Run(mode+"/"+string(tc.policy)+"/"+tc.reason, func(t *testing.T) {
				var got models.Request
				local := &mock.Model{ModelName: "local", ChatFunc: func(_ context.Context, req models.Request) (*models.Response, error) {
					got = req
					resp := unsure
					return &resp, nil
				}}
				provider := &cloudmock.Provider{ProviderName: "mock", ModelName: "big"}
				scorer, err := uq.New(uq.MeanLogprob)
				if err != nil {
					t.Fatal(err)
				}
				c, err := cascade.New(local, provider, cascade.Routing{Scorer: scorer, Threshold: 0.5}, cascade.Options{})
				if err != nil {
					t.Fatal(err)
				}
				cmpl := tc.cmpl
				req := cascade.Request{Messages: []models.Message{{Role: "user", Content: "a"}}, Completion: &cmpl}
				var res *cascade.Result
				if mode == "answer" {
					res, err = c.Answer(context.Background(), tc.policy, req)
				} else {
					res, err = c.Stream(context.Background(), tc.policy, req, &recorder{})
				}
				if provider.Calls() != 0 {
					t.Fatalf("the cloud was called %d times", provider.Calls())
				}
				if tc.err {
					var ce *cascade.CompletionError
					if !errors.As(err, &ce) || ce.Field != "suffix" || ce.Provider != "mock" {
						t.Fatalf("err %v, want a CompletionError naming suffix", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				d := res.Decision
				if d.Route != cascade.RouteLocal || d.Escalated || !strings.Contains(d.Reason, tc.reason) || !strings.Contains(d.Reason, "score 0.100 < threshold") {
					t.Fatalf("decision %+v", d)
				}
				if got.Completion == nil || *got.Completion != tc.cmpl {
					t.Fatalf("the local model got %+v", got.Completion)
				}
			})
		}
	}
}
