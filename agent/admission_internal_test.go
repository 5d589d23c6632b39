package agent

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestRetryAfterEstimate(t *testing.T) {
	tests := []struct {
		name    string
		mean    time.Duration
		running int
		queued  int
		want    time.Duration
	}{
		{"no history yet", 0, 1, 4, time.Second},
		{"fast model", 50 * time.Millisecond, 1, 3, time.Second},
		{"one slot", 2 * time.Second, 1, 3, 8 * time.Second},
		{"two slots", 2 * time.Second, 2, 3, 4 * time.Second},
		{"no queue", 3 * time.Second, 1, 0, 3 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &Admission{maxRun: tc.running, maxQueue: tc.queued, mean: tc.mean}
			for range tc.queued {
				a.queue.PushBack(&waiter{})
			}
			if got := a.retryAfter(); got != tc.want {
				t.Fatalf("retryAfter %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRetryAfterHeader(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&BusyError{After: 0}, "1"},
		{&BusyError{After: 1200 * time.Millisecond}, "2"},
		{&BusyError{After: 8 * time.Second}, "8"},
		{errors.Join(errors.New("local answer"), &BusyError{After: 3 * time.Second}), "3"},
		{errors.New("something else"), ""},
	}
	for _, tc := range tests {
		h := http.Header{}
		setRetryAfter(h, tc.err)
		if got := h.Get("Retry-After"); got != tc.want {
			t.Errorf("%v: Retry-After %q, want %q", tc.err, got, tc.want)
		}
	}
	status, body := statusOf(&BusyError{After: time.Second})
	if status != http.StatusServiceUnavailable || body.Error.Code != "local_busy" || body.Error.Type != "server_error" {
		t.Fatalf("busy maps to %d %+v, want 503 local_busy server_error", status, body.Error)
	}
}
