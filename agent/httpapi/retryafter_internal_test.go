package httpapi

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/agent/admission"
)

func TestRetryAfterHeader(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&admission.BusyError{After: 0}, "1"},
		{&admission.BusyError{After: 1200 * time.Millisecond}, "2"},
		{&admission.BusyError{After: 8 * time.Second}, "8"},
		{errors.Join(errors.New("local answer"), &admission.BusyError{After: 3 * time.Second}), "3"},
		{errors.New("something else"), ""},
	}
	for _, tc := range tests {
		h := http.Header{}
		setRetryAfter(h, tc.err)
		if got := h.Get("Retry-After"); got != tc.want {
			t.Errorf("%v: Retry-After %q, want %q", tc.err, got, tc.want)
		}
	}
	status, body := statusOf(&admission.BusyError{After: time.Second})
	if status != http.StatusServiceUnavailable || body.Error.Code != "local_busy" || body.Error.Type != "server_error" {
		t.Fatalf("busy maps to %d %+v, want 503 local_busy server_error", status, body.Error)
	}
}
