package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
)

// TestCloudErrorStatus: a cloud that rate-limits gives the caller a 429 with
// its Retry-After; any other cloud failure, or a chain where some provider
// failed otherwise, is a 502.
func TestCloudErrorStatus(t *testing.T) {
	rl := func(wait time.Duration) error {
		return &cloud.Error{Provider: "openai", Status: 429, RetryAfter: wait, Err: errors.New("rate limit reached")}
	}
	chain := func(errs ...error) error {
		return fmt.Errorf("cloud answer: %w", fmt.Errorf("all %d cloud providers failed: %w", len(errs), errors.Join(errs...)))
	}
	down := &cloud.Error{Provider: "anthropic", Err: errors.New("connection refused")}
	tests := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{"429 with Retry-After", fmt.Errorf("cloud answer: %w", rl(7*time.Second)), 429, "cloud_rate_limited", "7"},
		{"429 with a sub-second wait rounds up", rl(300 * time.Millisecond), 429, "cloud_rate_limited", "1"},
		{"429 without Retry-After", rl(0), 429, "cloud_rate_limited", ""},
		{"every provider rate-limited: the shortest wait", chain(rl(30*time.Second), rl(5*time.Second)), 429, "cloud_rate_limited", "5"},
		{"one provider rate-limited, one down", chain(rl(5*time.Second), down), 502, "cloud_error", ""},
		{"500", &cloud.Error{Provider: "openai", Status: 500, Err: errors.New("boom")}, 502, "cloud_error", ""},
		{"unreachable", down, 502, "cloud_error", ""},
		{"offline", &cloud.NotCalledError{Err: cloud.ErrOffline, Reason: "offline mode is on"}, 503, "cloud_offline", ""},
		{"budget spent", &cloud.NotCalledError{Err: cloud.ErrBudget, Reason: "daily cloud call cap reached"}, 503, "cloud_budget_exhausted", ""},
		// One call whose worst case passes a cap by itself: waiting cannot
		// help, a smaller max_tokens can.
		{"one call over a cap", fmt.Errorf("cloud answer: %w", &cloud.NotCalledError{Err: cloud.ErrOverCap,
			Reason: "the daily cloud token cap is 1000 (budget.tokens_per_day), and this call may use up to 4200 tokens"}), 400, "cloud_budget_exceeded_by_request", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{log: slog.New(slog.DiscardHandler)}
			w := httptest.NewRecorder()
			s.writeError(w, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil), tc.err)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if _, body := statusOf(tc.err); body.Error.Code != tc.code {
				t.Fatalf("code %q, want %q", body.Error.Code, tc.code)
			}
			if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Fatalf("Retry-After %q, want %q", got, tc.retryAfter)
			}
		})
	}
}
