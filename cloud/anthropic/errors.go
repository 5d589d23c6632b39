package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/edgecascade/edgecascade/cloud"
)

// redacted replaces the API key wherever a server echoes it.
const redacted = cloud.Redacted

// maxErrorBody caps how much of an error body is read.
const maxErrorBody = 64 << 10

// errAttemptTimeout is the cause a call's context is canceled with when one
// attempt runs out of its timeout.
var errAttemptTimeout = errors.New("attempt timed out")

// APIError is an error the server reported: the body of a 4xx/5xx answer in
// Anthropic's shape {"type":"error","error":{"type","message"},"request_id"},
// or an error event in a stream. It is always wrapped in a *cloud.Error,
// which carries the status.
type APIError struct {
	Type      string // e.g. "overloaded_error", "invalid_request_error"; may be empty
	Message   string // the server's message, with the API key scrubbed
	RequestID string // the request-id the server gave, for support; may be empty
}

func (e *APIError) Error() string {
	msg := e.Message
	if e.Type != "" && e.Type != e.Message {
		msg = e.Type + ": " + msg
	}
	if e.RequestID != "" {
		msg += " (request " + e.RequestID + ")"
	}
	return msg
}

// call is one Complete, Stream or Ping, over all its attempts. Its context
// is what the SDK runs in; the middleware starts a timer per attempt that
// cancels it with errAttemptTimeout, which also stops the SDK from retrying
// (the SDK would retry an attempt that runs out of its own timeout). The
// timer stops when the attempt fails without an answer or its body is
// closed, so backoff waits do not count. Attempts of one call run one after
// another in the caller's goroutine, so the fields need no lock.
type call struct {
	ctx      context.Context
	cancel   context.CancelCauseFunc
	timeout  time.Duration
	maxDelay time.Duration
	attempts int
	timer    *time.Timer
}

func (c *Client) newCall(ctx context.Context, timeout time.Duration) *call {
	cctx, cancel := context.WithCancelCause(ctx)
	return &call{ctx: cctx, cancel: cancel, timeout: timeout, maxDelay: maxRetryDelay(c.timeout)}
}

// end releases the call's timer and context.
func (cl *call) end() {
	cl.stopTimer()
	cl.cancel(nil)
}

func (cl *call) stopTimer() {
	if cl.timer != nil {
		cl.timer.Stop()
	}
}

func (cl *call) option() option.RequestOption { return option.WithMiddleware(cl.middleware) }

// middleware times each attempt and stops the SDK from retrying any 4xx
// other than 429 (it would retry 408 and 409, and whatever a server marks
// "x-should-retry: true"), and a 429 or 5xx whose Retry-After exceeds
// maxDelay.
func (cl *call) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	cl.attempts++
	cl.stopTimer()
	t := time.AfterFunc(cl.timeout, func() { cl.cancel(errAttemptTimeout) })
	cl.timer = t
	if s := int(cl.timeout / time.Second); s > 0 {
		req.Header.Set("X-Stainless-Timeout", strconv.Itoa(s))
	} else {
		req.Header.Del("X-Stainless-Timeout")
	}
	res, err := next(req)
	if err != nil || res == nil {
		t.Stop()
		return res, err
	}
	if res.StatusCode >= 400 {
		if res.Header == nil {
			res.Header = http.Header{}
		}
		retryable := res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500
		if !retryable || retryAfter(res.Header) > cl.maxDelay {
			res.Header.Set("X-Should-Retry", "false")
		}
	}
	if res.Body == nil {
		t.Stop()
		return res, nil
	}
	res.Body = &timedBody{ReadCloser: res.Body, stop: t.Stop}
	return res, nil
}

// timedBody stops its attempt's timer when closed.
type timedBody struct {
	io.ReadCloser
	stop func() bool
}

func (b *timedBody) Close() error {
	b.stop()
	return b.ReadCloser.Close()
}

// retryAfter reads the wait a server asks for, as the SDK does: Retry-After-Ms,
// else Retry-After in seconds or as an HTTP date; 0 when there is none.
func retryAfter(h http.Header) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return time.Duration(f * float64(time.Millisecond))
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return time.Duration(f * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil {
			return time.Until(t)
		}
	}
	return 0
}

// note adds the attempt count when the call was retried.
func (cl *call) note(err error) error {
	if cl.attempts > 1 {
		return fmt.Errorf("%w (%d attempts)", err, cl.attempts)
	}
	return err
}

// ctxError describes a call the caller canceled or that timed out, or
// returns nil when neither happened. ctx is the caller's context.
func (cl *call) ctxError(ctx context.Context) error {
	if cerr := ctx.Err(); cerr != nil {
		return cl.note(fmt.Errorf("caller gave up: %w", cerr))
	}
	if errors.Is(context.Cause(cl.ctx), errAttemptTimeout) {
		return cl.note(fmt.Errorf("timed out after %s: %w", cl.timeout, context.DeadlineExceeded))
	}
	return nil
}

// wrap makes the *cloud.Error every provider failure is returned as.
func (c *Client) wrap(status int, op string, err error) *cloud.Error {
	return &cloud.Error{Provider: ProviderName, Status: status, Err: fmt.Errorf("%s: %w", op, c.scrub(err))}
}

// callError maps an error from an SDK call (before any streamed body was
// read). The SDK's own error is never kept in the chain: it holds the request,
// credential header included.
func (c *Client) callError(ctx context.Context, cl *call, op string, err error, raw *http.Response) error {
	status := 0
	var body []byte
	requestID := ""
	var sdkErr *anthropic.Error
	if errors.As(err, &sdkErr) {
		status = sdkErr.StatusCode
		body = []byte(sdkErr.RawJSON())
		requestID = sdkErr.RequestID
	}
	if status == 0 && raw != nil && raw.StatusCode >= 400 {
		// The SDK could not decode the error body; the status still stands.
		status = raw.StatusCode
	}
	if status >= 400 {
		if len(body) == 0 && raw != nil && raw.Body != nil {
			body, _ = io.ReadAll(io.LimitReader(raw.Body, maxErrorBody))
		}
		if requestID == "" && raw != nil {
			requestID = raw.Header.Get("request-id")
		}
		e := c.wrap(status, op, cl.note(c.apiError(status, body, requestID)))
		if raw != nil {
			e.RetryAfter = cloud.RetryAfter(raw.Header, time.Now())
		}
		return e
	}
	if cerr := cl.ctxError(ctx); cerr != nil {
		return c.wrap(0, op, cerr)
	}
	if raw != nil && raw.StatusCode < 300 {
		// An answer came but could not be read or decoded.
		return c.wrap(0, op, cl.note(fmt.Errorf("bad answer: %w", err)))
	}
	return c.wrap(0, op, cl.note(err))
}

// streamError maps an error that ended a stream after a 200 answer.
func (c *Client) streamError(ctx context.Context, cl *call, err error) error {
	if cerr := cl.ctxError(ctx); cerr != nil {
		return c.wrap(0, "stream", cerr)
	}
	var sdkErr *anthropic.Error
	if errors.As(err, &sdkErr) {
		e := c.parseErrorBody([]byte(sdkErr.RawJSON()))
		if e == nil {
			e = &APIError{Message: "error event in stream"}
		}
		if e.RequestID == "" {
			e.RequestID = c.redact(sdkErr.RequestID)
		}
		return c.wrap(0, "stream", fmt.Errorf("error event: %w", e))
	}
	if strings.HasPrefix(err.Error(), "received error while streaming") {
		// The SDK could not decode the error event's JSON.
		return c.wrap(0, "stream", fmt.Errorf("error event: %w", err))
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syn) || errors.As(err, &typ) {
		return c.wrap(0, "stream", fmt.Errorf("malformed event: %w", err))
	}
	return c.wrap(0, "stream", fmt.Errorf("read: %w", err))
}

// apiError builds the error for an HTTP error answer from its body.
func (c *Client) apiError(status int, body []byte, requestID string) *APIError {
	if e := c.parseErrorBody(body); e != nil {
		if e.RequestID == "" {
			e.RequestID = c.redact(requestID)
		}
		return e
	}
	msg := strings.ToLower(http.StatusText(status))
	if status == 529 {
		msg = "overloaded"
	}
	if msg == "" {
		msg = "error"
	}
	// A short plain-text body (not an HTML error page) is worth showing.
	if t := strings.TrimSpace(string(body)); t != "" && !strings.HasPrefix(t, "<") &&
		len(t) <= 200 && utf8.ValidString(t) && !strings.ContainsAny(t, "\r\n") {
		msg += ": " + c.redact(t)
	}
	return &APIError{Message: msg, RequestID: c.redact(requestID)}
}

// parseErrorBody reads Anthropic's {"type":"error","error":{"type","message"}}
// (the body of an error answer and the data of an error event), tolerating
// gateways that answer in OpenAI's {"error":{"message","type"}} or with a
// bare string error; nil when there is neither a message nor a type.
func (c *Client) parseErrorBody(body []byte) *APIError {
	var env struct {
		Error     json.RawMessage `json:"error"`
		RequestID string          `json:"request_id"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(body), &env); err != nil || len(env.Error) == 0 {
		return nil
	}
	var s string
	if json.Unmarshal(env.Error, &s) == nil && s != "" {
		return &APIError{Message: c.redact(s), RequestID: c.redact(env.RequestID)}
	}
	var obj struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	if json.Unmarshal(env.Error, &obj) != nil || (obj.Message == "" && obj.Type == "") {
		return nil
	}
	if obj.Message == "" {
		obj.Message = obj.Type
	}
	return &APIError{Type: c.redact(obj.Type), Message: c.redact(obj.Message), RequestID: c.redact(env.RequestID)}
}

// redact removes the API key from s.
func (c *Client) redact(s string) string { return cloud.Redactor{Key: c.apiKey}.Redact(s) }

// scrub removes the API key from err's message (see cloud.Redactor.Scrub).
func (c *Client) scrub(err error) error { return cloud.Redactor{Key: c.apiKey}.Scrub(err) }
