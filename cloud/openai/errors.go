package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/edgecascade/edgecascade/cloud"
)

// redacted replaces the API key wherever a server echoes it.
const redacted = cloud.Redacted

// maxErrorBody caps how much of an error body is read.
const maxErrorBody = 64 << 10

// APIError is an error the server reported: the body of a 4xx/5xx answer in
// OpenAI's shape {"error":{"message","type","code"}}, or an error event in a
// stream. It is always wrapped in a *cloud.Error, which carries the status.
type APIError struct {
	Type    string // e.g. "invalid_request_error"; may be empty
	Code    string // e.g. "rate_limit_exceeded"; may be empty
	Message string // the server's message, with the API key scrubbed
}

func (e *APIError) Error() string { return e.Message }

// tracker observes the attempts of one call. Attempts of one call run one
// after another, so it needs no lock. Its middleware also stops the SDK from
// retrying any 4xx other than 429 (the SDK would retry 408 and 409, and
// whatever a server marks "x-should-retry: true").
type tracker struct {
	attempts int
	status   int // HTTP status of the last attempt; 0 when it got no answer
}

func (t *tracker) option() option.RequestOption { return option.WithMiddleware(t.middleware) }

func (t *tracker) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	t.attempts++
	res, err := next(req)
	t.status = 0
	if res != nil {
		t.status = res.StatusCode
		if res.StatusCode >= 400 && res.StatusCode < 500 && res.StatusCode != http.StatusTooManyRequests {
			if res.Header == nil {
				res.Header = http.Header{}
			}
			res.Header.Set("X-Should-Retry", "false")
		}
	}
	return res, err
}

// note adds the attempt count when the call was retried.
func (t *tracker) note(err error) error {
	if t.attempts > 1 {
		return fmt.Errorf("%w (%d attempts)", err, t.attempts)
	}
	return err
}

// wrap makes the *cloud.Error every provider failure is returned as.
func (c *Client) wrap(status int, op string, err error) *cloud.Error {
	return &cloud.Error{Provider: ProviderName, Status: status, Err: fmt.Errorf("%s: %w", op, c.scrub(err))}
}

// callError maps an error from an SDK call (before any streamed body was
// read). ctx is the caller's context; timeout is the per-attempt bound.
func (c *Client) callError(ctx context.Context, op string, err error, raw *http.Response, tr *tracker, timeout time.Duration) error {
	status := 0
	var sdkErr *openai.Error
	if errors.As(err, &sdkErr) {
		status = sdkErr.StatusCode
		if raw == nil {
			raw = sdkErr.Response
		}
	} else if raw != nil && raw.StatusCode >= 400 {
		// The SDK could not decode the error body; the status still stands.
		status = raw.StatusCode
	}
	if status >= 400 {
		var body []byte
		if raw != nil && raw.Body != nil {
			body, _ = io.ReadAll(io.LimitReader(raw.Body, maxErrorBody))
		}
		e := c.wrap(status, op, tr.note(c.apiError(status, body)))
		if raw != nil {
			e.RetryAfter = cloud.RetryAfter(raw.Header, time.Now())
		}
		return e
	}
	if cerr := c.ctxError(ctx, err, tr, timeout); cerr != nil {
		return c.wrap(lastErrorStatus(tr), op, cerr)
	}
	return c.wrap(0, op, tr.note(err))
}

// ctxError describes a canceled or timed-out call, or returns nil when err is
// neither.
func (c *Client) ctxError(ctx context.Context, err error, tr *tracker, timeout time.Duration) error {
	if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return tr.note(fmt.Errorf("caller gave up: %w", cerr))
	}
	return tr.note(fmt.Errorf("timed out after %s: %w", timeout, err))
}

// streamError maps an error that ended a stream after a 200 answer.
func (c *Client) streamError(ctx context.Context, err error, tr *tracker) error {
	var se *ssestream.StreamError
	if errors.As(err, &se) {
		e := c.parseErrorBody(se.Event.Data)
		if e == nil {
			e = &APIError{Message: "error event in stream"}
		}
		return c.wrap(0, "stream", fmt.Errorf("error event: %w", e))
	}
	if cerr := c.ctxError(ctx, err, tr, c.timeout); cerr != nil {
		return c.wrap(0, "stream", cerr)
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syn) || errors.As(err, &typ) {
		return c.wrap(0, "stream", fmt.Errorf("malformed chunk: %w", err))
	}
	return c.wrap(0, "stream", fmt.Errorf("read: %w", err))
}

// apiError builds the error for an HTTP error answer from its body.
func (c *Client) apiError(status int, body []byte) *APIError {
	if e := c.parseErrorBody(body); e != nil {
		return e
	}
	msg := strings.ToLower(http.StatusText(status))
	if msg == "" {
		msg = "error"
	}
	// A short plain-text body (not an HTML error page) is worth showing.
	if t := strings.TrimSpace(string(body)); t != "" && !strings.HasPrefix(t, "<") &&
		len(t) <= 200 && utf8.ValidString(t) && !strings.ContainsAny(t, "\r\n") {
		msg += ": " + c.redact(t)
	}
	return &APIError{Message: msg}
}

// parseErrorBody reads {"error":{"message","type","code"}}, tolerating a
// numeric code (vLLM) and a bare string error; nil when there is no message.
func (c *Client) parseErrorBody(body []byte) *APIError {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(body), &env); err != nil || len(env.Error) == 0 {
		return nil
	}
	var s string
	if json.Unmarshal(env.Error, &s) == nil && s != "" {
		return &APIError{Message: c.redact(s)}
	}
	var obj struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	if json.Unmarshal(env.Error, &obj) != nil || obj.Message == "" {
		return nil
	}
	code := strings.Trim(string(obj.Code), `"`)
	if code == "null" {
		code = ""
	}
	return &APIError{Type: c.redact(obj.Type), Code: c.redact(code), Message: c.redact(obj.Message)}
}

func lastErrorStatus(tr *tracker) int {
	if tr.status >= 400 {
		return tr.status
	}
	return 0
}

// redact removes the API key from s.
func (c *Client) redact(s string) string { return cloud.Redactor{Key: c.apiKey}.Redact(s) }

// scrub removes the API key from err's message (see cloud.Redactor.Scrub).
func (c *Client) scrub(err error) error { return cloud.Redactor{Key: c.apiKey}.Scrub(err) }
