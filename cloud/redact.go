package cloud

import (
	"errors"
	"strings"
)

// Redacted replaces an API key wherever one would be shown.
const Redacted = "[redacted]"

// Redactor removes one API key from text and errors, so that no message a
// provider builds (from a server's echo, a URL, a transport error) shows it.
type Redactor struct{ Key string }

// Redact removes the key from s.
func (r Redactor) Redact(s string) string {
	if r.Key == "" {
		return s
	}
	return strings.ReplaceAll(s, r.Key, Redacted)
}

// Scrub returns err unchanged unless its message contains the key; then it
// returns an error with the key removed that still matches errors.Is (for
// context.DeadlineExceeded and the like) but does not unwrap to the
// original, which holds the key.
func (r Redactor) Scrub(err error) error {
	if err == nil || r.Key == "" || !strings.Contains(err.Error(), r.Key) {
		return err
	}
	return &scrubbedError{msg: r.Redact(err.Error()), orig: err}
}

type scrubbedError struct {
	msg  string
	orig error
}

func (e *scrubbedError) Error() string { return e.msg }

func (e *scrubbedError) Is(target error) bool { return errors.Is(e.orig, target) }
