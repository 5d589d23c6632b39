package probe

import (
	"errors"
	"fmt"
)

// Sentinel errors. Test with errors.Is; the errors returned carry context.
var (
	// ErrLibraryMissing means the onnxruntime shared library file named by
	// the setting probe.onnxruntime_lib does not exist (or is not set).
	ErrLibraryMissing = errors.New("onnxruntime library not found")

	// ErrRuntimeExists means the process already holds an onnxruntime
	// environment: create one Runtime per process and share it.
	ErrRuntimeExists = errors.New("onnxruntime environment already initialized in this process")

	// ErrNoCgo means the binary was built without cgo, so onnxruntime
	// cannot be loaded.
	ErrNoCgo = errors.New("onnxruntime needs cgo, and this binary was built without it")

	// ErrClosed means the Runtime or Probe was closed.
	ErrClosed = errors.New("closed")

	// ErrMismatch means a probe was trained for another local model or
	// feature size than the one it is used with. See MismatchError.
	ErrMismatch = errors.New("probe does not match the local model")

	// ErrNotProbe means a file is not an ONNX probe written by WriteONNX
	// (or is malformed).
	ErrNotProbe = errors.New("not an edgecascade probe")

	// ErrBadInput means features, labels or options given to this package
	// are unusable (wrong length, not finite, a single class, ...).
	ErrBadInput = errors.New("bad input")
)

// MismatchError reports that a probe was trained for another local model or
// feature size than the caller wants. It unwraps to ErrMismatch.
type MismatchError struct {
	Path  string // probe file
	Field string // "model", "feature size" or "feature kind"
	Want  string // what the caller asked for
	Got   string // what the probe was trained for
}

// Error names both the probe's value and the wanted one.
func (e *MismatchError) Error() string {
	switch e.Field {
	case "model":
		return fmt.Sprintf("probe %q was trained for local model %q, not %q", e.Path, e.Got, e.Want)
	case "feature kind":
		return fmt.Sprintf("probe %q is %s, want %s", e.Path, kindName(FeatureKind(e.Got)), kindName(FeatureKind(e.Want)))
	default:
		return fmt.Sprintf("probe %q was trained for %s %s, not %s", e.Path, e.Field, e.Got, e.Want)
	}
}

// Unwrap returns ErrMismatch.
func (e *MismatchError) Unwrap() error { return ErrMismatch }

// badInput wraps ErrBadInput with a formatted message.
func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadInput, fmt.Sprintf(format, args...))
}
