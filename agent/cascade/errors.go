package cascade

import (
	"errors"
	"fmt"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
)

// UnknownModelError is a request for a model (policy) that does not exist.
type UnknownModelError struct{ Model string }

func (e *UnknownModelError) Error() string {
	return fmt.Sprintf("model %q does not exist: use auto, local or cloud", e.Model)
}

// UnsupportedError is a request that needs what the local model does not
// take (tools, images) under policy local: Capability is the backend's word
// (models.CapabilityTools, models.CapabilityVision), Err why it is not known
// to be supported when the capabilities could not be read.
type UnsupportedError struct {
	Capability string
	Model      string
	Err        error
}

func (e *UnsupportedError) Error() string {
	what := map[string]string{models.CapabilityTools: "tools", models.CapabilityVision: "images"}[e.Capability]
	if what == "" {
		what = e.Capability
	}
	if e.Err != nil {
		return fmt.Sprintf("the request has %s, and the local model %s's capabilities could not be read (%v): use model auto or cloud", what, e.Model, e.Err)
	}
	return fmt.Sprintf("the request has %s, which the local model %s does not support (its backend does not report %q): use model auto or cloud", what, e.Model, e.Capability)
}

// CompletionError is a text completion (raw or fill-in-the-middle) asked of
// the cloud, whose providers take chats only. Field names the request field
// that made it a completion.
type CompletionError struct{ Provider, Field string }

func (e *CompletionError) Error() string {
	return fmt.Sprintf("%s: a raw or fill-in-the-middle completion needs the local model; provider %s takes chat requests only: use model auto or local", e.Field, e.Provider)
}

// ContextLengthError is a prompt that cannot fit the local model's context
// under policy local.
type ContextLengthError struct{ Tokens, Reserve, Length int }

func (e *ContextLengthError) Error() string {
	return fmt.Sprintf("the prompt has %d tokens and %d are reserved for the answer, but the local model's context holds %d: shorten it or use model auto or cloud", e.Tokens, e.Reserve, e.Length)
}

// DeferredError is a request that could not be answered now, neither by the
// local model nor by the cloud, and was deferred: its cloud answer will be
// at /v1/cascade/deferred/{ID}.
type DeferredError struct {
	ID  string
	Err error
}

func (e *DeferredError) Error() string {
	return fmt.Sprintf("%v; the request is deferred as %s: its answer will be at /v1/cascade/deferred/%s", e.Err, e.ID, e.ID)
}

func (e *DeferredError) Unwrap() error { return e.Err }

// streamStartedError marks a failure after text was already streamed, when
// no fallback is possible any more.
type streamStartedError struct{ err error }

func (e *streamStartedError) Error() string { return e.err.Error() }
func (e *streamStartedError) Unwrap() error { return e.err }

// StreamStarted reports whether err happened after the stream had begun, so
// the HTTP layer must report it inside the stream.
func StreamStarted(err error) bool {
	var se *streamStartedError
	return errors.As(err, &se)
}

// Deferrable reports whether a failed cloud call may be tried again later:
// the cloud was out of reach, failed on its side, or the budget is spent.
func Deferrable(err error) bool {
	return errors.Is(err, cloud.ErrUnavailable) || errors.Is(err, cloud.ErrBudget)
}

func isUnavailable(err error) bool {
	return errors.Is(err, models.ErrUnavailable) || errors.Is(err, models.ErrModelNotFound)
}
