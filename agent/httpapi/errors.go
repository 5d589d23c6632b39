package httpapi

import (
	"context"
	"errors"
	"fmt"
	"github.com/edgecascade/edgecascade/agent/admission"
	"github.com/edgecascade/edgecascade/agent/cascade"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
)

// BadRequestError is a request the API cannot accept.
type BadRequestError struct {
	Msg   string
	Param string
}

func (e *BadRequestError) Error() string { return e.Msg }

// TooLargeError is a request body over the configured limit.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("request body is larger than %d bytes (setting server.max_body_bytes)", e.Limit)
}

// apiError is the OpenAI error shape: {"error": {"message", "type", "code", "param"}}.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Code    string  `json:"code"`
	Param   *string `json:"param"`
}

// statusOf maps an error to its HTTP status and the OpenAI error body. It is
// the one place where errors become statuses.
func statusOf(err error) (int, apiError) {
	body := func(msg, typ, code string) apiError {
		return apiError{Error: apiErrorBody{Message: msg, Type: typ, Code: code}}
	}
	var (
		de    *cascade.DeferredError
		nc    *cloud.NotCalledError
		bad   *BadRequestError
		large *TooLargeError
		um    *cascade.UnknownModelError
		cl    *cascade.ContextLengthError
		ue    *cascade.UnsupportedError
		cmpl  *cascade.CompletionError
		ce    *cloud.Error
		busy  *admission.BusyError
	)
	switch {
	case errors.As(err, &de):
		return http.StatusServiceUnavailable, body(err.Error(), "server_error", "deferred")
	case errors.Is(err, cloud.ErrOverCap):
		// One call whose worst case passes a budget cap by itself: waiting
		// cannot help; a smaller max_tokens (or a larger cap) can.
		b := body(err.Error(), "invalid_request_error", "cloud_budget_exceeded_by_request")
		p := "max_tokens"
		b.Error.Param = &p
		return http.StatusBadRequest, b
	case errors.As(err, &nc):
		code := "cloud_offline"
		if errors.Is(err, cloud.ErrBudget) {
			code = "cloud_budget_exhausted"
		}
		return http.StatusServiceUnavailable, body(err.Error(), "server_error", code)
	case errors.As(err, &large):
		return http.StatusRequestEntityTooLarge, body(err.Error(), "invalid_request_error", "request_too_large")
	case errors.As(err, &bad):
		b := body(bad.Msg, "invalid_request_error", "invalid_request")
		if bad.Param != "" {
			p := bad.Param
			b.Error.Param = &p
		}
		return http.StatusBadRequest, b
	case errors.As(err, &ue):
		// Policy local and a local model without tools (vision): the
		// request's tools (images) are the field refused.
		b := body(err.Error(), "invalid_request_error", "local_model_unsupported")
		p := "tools"
		if ue.Capability == models.CapabilityVision {
			p = "images"
		}
		b.Error.Param = &p
		return http.StatusBadRequest, b
	case errors.As(err, &cmpl):
		b := body(err.Error(), "invalid_request_error", "completion_needs_local")
		p := cmpl.Field
		b.Error.Param = &p
		return http.StatusBadRequest, b
	case errors.As(err, &cl):
		return http.StatusBadRequest, body(err.Error(), "invalid_request_error", "context_length_exceeded")
	case errors.As(err, &um):
		return http.StatusNotFound, body(err.Error(), "invalid_request_error", "model_not_found")
	case errors.Is(err, context.Canceled):
		return 499, body("request canceled", "invalid_request_error", "canceled")
	case errors.As(err, &busy):
		return http.StatusServiceUnavailable, body(busy.Error(), "server_error", "local_busy")
	case errors.Is(err, models.ErrModelNotFound):
		return http.StatusServiceUnavailable, body(err.Error(), "server_error", "local_model_not_found")
	case errors.Is(err, models.ErrBadRequest):
		return http.StatusBadRequest, body(err.Error(), "invalid_request_error", "local_model_rejected")
	case errors.Is(err, models.ErrUnavailable):
		return http.StatusServiceUnavailable, body(err.Error(), "server_error", "local_model_unavailable")
	case rateLimited(err):
		return http.StatusTooManyRequests, body(err.Error(), "rate_limit_error", "cloud_rate_limited")
	case errors.As(err, &ce):
		return http.StatusBadGateway, body(err.Error(), "server_error", "cloud_error")
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, body("request timed out", "server_error", "timeout")
	default:
		return http.StatusInternalServerError, body("internal error: "+err.Error(), "server_error", "internal_error")
	}
}

// setErrorHeaders adds the headers an error response carries: Retry-After
// when it is known when to try again, and the deferred item's ID.
func setErrorHeaders(h http.Header, err error) {
	var de *cascade.DeferredError
	if errors.As(err, &de) {
		h.Set("X-Cascade-Deferred-Id", de.ID)
	}
	var nc *cloud.NotCalledError
	if errors.As(err, &nc) && nc.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfterSeconds(nc.RetryAfter)))
		return
	}
	if rateLimited(err) {
		// The cloud's own Retry-After goes on with the 429.
		if secs := retryAfter(err); secs > 0 {
			h.Set("Retry-After", strconv.Itoa(secs))
		}
		return
	}
	setRetryAfter(h, err)
}

// retryAfterer is an error that knows when a retry may succeed.
type retryAfterer interface{ RetryAfter() time.Duration }

// setRetryAfter sets the Retry-After header (whole seconds, at least 1) when
// err, or an error it wraps, says when to retry.
func setRetryAfter(h http.Header, err error) {
	var ra retryAfterer
	if errors.As(err, &ra) {
		h.Set("Retry-After", strconv.Itoa(retryAfterSeconds(ra.RetryAfter())))
	}
}

// cloudErrors lists the provider errors in err's tree (one per provider
// that was tried).
func cloudErrors(err error) []*cloud.Error {
	var out []*cloud.Error
	var walk func(error)
	walk = func(e error) {
		if ce, ok := e.(*cloud.Error); ok {
			out = append(out, ce)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}

// rateLimited reports whether every cloud provider that was tried answered
// 429: then the caller should wait and retry, and gets a 429 too.
func rateLimited(err error) bool {
	ces := cloudErrors(err)
	for _, ce := range ces {
		if ce.Status != http.StatusTooManyRequests {
			return false
		}
	}
	return len(ces) > 0
}

// retryAfter is the shortest wait the rate-limiting providers asked for, in
// whole seconds for a Retry-After header; 0 when none asked.
func retryAfter(err error) int {
	var wait time.Duration
	for _, ce := range cloudErrors(err) {
		if ce.RetryAfter > 0 && (wait == 0 || ce.RetryAfter < wait) {
			wait = ce.RetryAfter
		}
	}
	return int(math.Ceil(wait.Seconds()))
}

// retryAfterSeconds is d as the whole seconds of a Retry-After header,
// rounded up, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
