package llamacpp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/edgecascade/edgecascade/models"
)

// apiError is an error answer from llama-server. Its body is
// {"error": {"code", "message", "type"}} (format_error_response in
// tools/server/server-common.cpp); a context overflow adds n_prompt_tokens
// and n_ctx. Old servers answered /health with {"status": "..."} and some
// failures with plain text; both are read too.
type apiError struct {
	Method  string // "" for an error inside a stream
	Path    string
	Status  int    // HTTP status, or the body's code inside a stream
	Type    string // e.g. "invalid_request_error", "unavailable_error"
	Message string
	// NPromptTokens and NCtx come with "exceed_context_size_error".
	NPromptTokens int
	NCtx          int
}

func (e *apiError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		fmt.Fprintf(&b, "%s %s: ", e.Method, e.Path)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, "status %d", e.Status)
	} else {
		b.WriteString("error")
	}
	if e.Type != "" {
		fmt.Fprintf(&b, " %s", e.Type)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

// errorBody is the inner object of {"error": {...}}.
type errorBody struct {
	Code          int    `json:"code"`
	Message       string `json:"message"`
	Type          string `json:"type"`
	NPromptTokens int    `json:"n_prompt_tokens"`
	NCtx          int    `json:"n_ctx"`
}

// parseAPIError reads an error response body.
func parseAPIError(method, path string, status int, body []byte) *apiError {
	e := &apiError{Method: method, Path: path, Status: status}
	var w struct {
		Error  json.RawMessage `json:"error"`
		Status string          `json:"status"`
	}
	if json.Unmarshal(body, &w) == nil {
		if len(w.Error) > 0 && string(w.Error) != "null" {
			fillFromErrorValue(e, w.Error)
		} else if w.Status != "" {
			e.Message = w.Status // old /health: {"status": "loading model"}
		}
	}
	if e.Message == "" {
		e.Message = clip(strings.TrimSpace(string(body)), 300)
	}
	if e.Message == "" {
		e.Message = strings.ToLower(http.StatusText(status))
	}
	return e
}

// parseStreamError reads the error member of a stream chunk.
func parseStreamError(raw json.RawMessage) *apiError {
	e := &apiError{}
	fillFromErrorValue(e, raw)
	if e.Message == "" {
		e.Message = clip(string(raw), 300)
	}
	return e
}

// fillFromErrorValue reads {"code", "message", "type"} or a bare string.
func fillFromErrorValue(e *apiError, raw json.RawMessage) {
	var b errorBody
	if json.Unmarshal(raw, &b) == nil {
		e.Message, e.Type = b.Message, b.Type
		e.NPromptTokens, e.NCtx = b.NPromptTokens, b.NCtx
		if e.Status == 0 {
			e.Status = b.Code
		}
		return
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		e.Message = s
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// wrap turns any failure into a *models.Error with the right kind and a hint.
func (c *Client) wrap(ctx context.Context, err error) error {
	e := &models.Error{Backend: backendName, Model: c.name, Kind: models.ErrUnavailable, Err: err}
	var ae *apiError
	var ne net.Error
	switch {
	case errors.As(err, &ae):
		c.classify(e, ae)
	case errors.Is(err, errNoLogprobs):
		e.Hint = "this llama-server does not return OpenAI-style logprobs; upgrade it to a build whose " +
			"/v1/chat/completions answers choices[].logprobs.content"
	case ctx.Err() != nil:
		if !errors.Is(err, ctx.Err()) {
			e.Err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && c.timeout > 0 {
			e.Hint = fmt.Sprintf("the call took longer than the %s timeout", c.timeout)
		}
	case errors.As(err, &ne):
		e.Hint = fmt.Sprintf("is llama-server running at %s?", c.url)
	}
	return e
}

// classify sets the kind and hint of an error answer.
func (c *Client) classify(e *models.Error, ae *apiError) {
	msg := strings.ToLower(ae.Message)
	modelMissing := strings.Contains(msg, "model not found") || strings.Contains(msg, "model is not loaded")
	switch {
	case ae.Type == "exceed_context_size_error":
		e.Kind = models.ErrBadRequest
		e.Hint = "the prompt does not fit the context; raise llama-server's -c (per slot: -c / --parallel) or shorten it"
		if ae.NPromptTokens > 0 && ae.NCtx > 0 {
			e.Hint = fmt.Sprintf("the prompt (%d tokens) does not fit the context (%d tokens); "+
				"raise llama-server's -c (per slot: -c / --parallel) or shorten it", ae.NPromptTokens, ae.NCtx)
		}
	case modelMissing && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusNotFound):
		// router mode (tools/server/server-models.cpp) answers 400 "model not found"
		e.Kind = models.ErrModelNotFound
		e.Hint = fmt.Sprintf("the llama-server router at %s has no model %q; list its models with GET /v1/models", c.url, c.model)
	case ae.Status == http.StatusNotFound:
		e.Hint = fmt.Sprintf("the server at %s has no %s: give the llama-server root as the URL "+
			"(no /v1; include --api-prefix if it has one), and check it is a llama-server recent enough for this route", c.url, ae.Path)
	case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
		e.Kind = models.ErrBadRequest
		e.Hint = "llama-server was started with --api-key: give Config.HTTPClient a transport that sends Authorization: Bearer <key>"
	case ae.Status == http.StatusNotImplemented:
		e.Hint = "this llama-server was not started with the flags this call needs"
		if ae.Path == pathEmbedding {
			e.Hint = "start llama-server with --embeddings (and --pooling none for per-token hidden states)"
		}
	case ae.Status == http.StatusServiceUnavailable:
		e.Hint = "llama-server is busy (no free slot); retry shortly"
		if strings.Contains(msg, "loading") {
			e.Hint = "llama-server is still loading the model; retry shortly"
		}
	case ae.Status >= 400 && ae.Status < 500:
		e.Kind = models.ErrBadRequest
	}
}
