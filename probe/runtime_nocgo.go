//go:build !cgo

package probe

import (
	"context"
	"fmt"
)

// Runtime would hold the onnxruntime environment; this binary was built
// without cgo, so NewRuntime always fails with ErrNoCgo.
type Runtime struct{}

// NewRuntime fails with ErrNoCgo: onnxruntime needs cgo. Logistic.Predict
// (with ReadONNX) evaluates a probe without it.
func NewRuntime(libPath string) (*Runtime, error) {
	return nil, fmt.Errorf("new probe runtime (probe.onnxruntime_lib %q): %w", libPath, ErrNoCgo)
}

// LibPath returns "".
func (r *Runtime) LibPath() string { return "" }

// Version returns "".
func (r *Runtime) Version() string { return "" }

// Close does nothing.
func (r *Runtime) Close() error { return nil }

// Load fails with ErrNoCgo.
func (r *Runtime) Load(path string, wantModel string, wantDim int) (*Probe, error) {
	return nil, fmt.Errorf("load probe %q: %w", path, ErrNoCgo)
}

// Probe is a loaded probe; without cgo none can be loaded.
type Probe struct {
	path string
	meta Meta
}

// Meta returns the probe's metadata.
func (p *Probe) Meta() Meta { return p.meta.clone() }

// Path returns the file the probe was loaded from.
func (p *Probe) Path() string { return p.path }

// Predict fails with ErrNoCgo.
func (p *Probe) Predict(ctx context.Context, features []float32) (float64, error) {
	return 0, fmt.Errorf("probe predict: %w", ErrNoCgo)
}

// Close does nothing.
func (p *Probe) Close() error { return nil }
