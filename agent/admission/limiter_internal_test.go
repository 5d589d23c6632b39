package admission

import (
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
			a := &Limiter{maxRun: tc.running, maxQueue: tc.queued, mean: tc.mean}
			for range tc.queued {
				a.queue.PushBack(&waiter{})
			}
			if got := a.retryAfter(); got != tc.want {
				t.Fatalf("retryAfter %s, want %s", got, tc.want)
			}
		})
	}
}
