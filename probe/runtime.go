//go:build cgo

package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// envMu makes "check whether onnxruntime_go's process-global environment
// exists, then create or destroy it" atomic across goroutines. The library
// keeps that environment (and the library path) in unguarded package
// variables, so a lock has to live at package level too; envMu holds no data.
// Everything else is per Runtime.
var envMu sync.Mutex

// Runtime is this process's onnxruntime environment: the loaded shared
// library plus the probes opened with it. Create it once per process with
// NewRuntime and share it; its methods are safe for concurrent use. See the
// package documentation for why there can be only one.
type Runtime struct {
	libPath string
	version string

	mu     sync.Mutex // guards closed and probes; held during Load
	closed bool
	probes map[*Probe]struct{}
}

// NewRuntime loads the onnxruntime shared library at libPath (the setting
// probe.onnxruntime_lib; a relative path is taken from the working
// directory) and initializes onnxruntime's process-global environment.
//
// The library must be onnxruntime 1.24.x or newer for this platform
// (github.com/yalue/onnxruntime_go v1.27.0 asks for C API version 24);
// scripts/install-onnxruntime.sh installs it and prints its path. A missing
// file gives ErrLibraryMissing; an environment already held in the process
// (another open Runtime) gives ErrRuntimeExists.
func NewRuntime(libPath string) (*Runtime, error) {
	if libPath == "" {
		return nil, fmt.Errorf("%w: probe.onnxruntime_lib is not set: set it to the path of libonnxruntime.so.1 (onnxruntime 1.24), which scripts/install-onnxruntime.sh installs and prints", ErrLibraryMissing)
	}
	abs, err := filepath.Abs(libPath)
	if err != nil {
		return nil, fmt.Errorf("onnxruntime library %q (probe.onnxruntime_lib): %w", libPath, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %q (probe.onnxruntime_lib) does not exist: run scripts/install-onnxruntime.sh and set probe.onnxruntime_lib to the path it prints", ErrLibraryMissing, libPath)
	case err != nil:
		return nil, fmt.Errorf("onnxruntime library %q (probe.onnxruntime_lib): %w", libPath, err)
	case fi.IsDir():
		return nil, fmt.Errorf("%w: %q (probe.onnxruntime_lib) is a directory, want the file libonnxruntime.so.1 (scripts/install-onnxruntime.sh prints its path)", ErrLibraryMissing, libPath)
	}

	envMu.Lock()
	defer envMu.Unlock()
	if ort.IsInitialized() {
		return nil, fmt.Errorf("new probe runtime: %w: create one probe.Runtime per process and share it", ErrRuntimeExists)
	}
	ort.SetSharedLibraryPath(abs)
	if err := ort.InitializeEnvironment(); err != nil {
		return nil, fmt.Errorf("load onnxruntime library %q (probe.onnxruntime_lib; need onnxruntime 1.24 or newer for %s/%s, see scripts/install-onnxruntime.sh): %w",
			libPath, runtime.GOOS, runtime.GOARCH, err)
	}
	return &Runtime{libPath: abs, version: ort.GetVersion(), probes: make(map[*Probe]struct{})}, nil
}

// LibPath returns the absolute path of the loaded library.
func (r *Runtime) LibPath() string { return r.libPath }

// Version returns onnxruntime's version string, e.g. "1.24.1".
func (r *Runtime) Version() string { return r.version }

// Close closes every probe loaded with r (waiting for running predictions)
// and releases the onnxruntime environment, after which NewRuntime may be
// called again. Closing twice is a no-op.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	probes := r.probes
	r.probes = nil
	r.mu.Unlock()

	var errs []error
	for p := range probes {
		if err := p.release(); err != nil {
			errs = append(errs, err)
		}
	}
	envMu.Lock()
	defer envMu.Unlock()
	if err := ort.DestroyEnvironment(); err != nil {
		errs = append(errs, fmt.Errorf("close probe runtime: %w", err))
	}
	return errors.Join(errs...)
}

// Load opens the probe at path for the local model wantModel whose hidden
// state has wantDim values. It refuses a probe whose metadata names another
// model or feature size with a *MismatchError (errors.Is ErrMismatch) naming
// both, and a file WriteONNX did not write with ErrNotProbe.
func (r *Runtime) Load(path string, wantModel string, wantDim int) (*Probe, error) {
	if wantModel == "" || wantDim <= 0 {
		return nil, fmt.Errorf("load probe %q: %w", path, badInput("want local model %q with feature size %d: need a name and a size > 0", wantModel, wantDim))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load probe: %w", err)
	}
	model, data, err := decodeModel(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("load probe %q: %w", path, err)
	}
	meta, err := metaOf(model)
	if err != nil {
		return nil, fmt.Errorf("load probe %q: %w", path, err)
	}
	if err := meta.Check(path, wantModel, "", wantDim); err != nil {
		return nil, fmt.Errorf("load probe: %w", err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("load probe %q: runtime %w", path, ErrClosed)
	}
	p, err := newProbe(data, meta, path)
	if err != nil {
		return nil, fmt.Errorf("load probe %q: %w", path, err)
	}
	p.rt = r
	r.probes[p] = struct{}{}
	return p, nil
}

// forget drops p from the probes Close will close.
func (r *Runtime) forget(p *Probe) {
	r.mu.Lock()
	delete(r.probes, p)
	r.mu.Unlock()
}

// Probe is a loaded probe. Predict is safe for concurrent use: the session's
// input and output tensors are allocated once and bound to it, so calls take
// turns on a one-slot semaphore (a mutex that a waiting caller's context can
// cancel). A prediction takes microseconds, so this costs little and keeps
// Predict free of allocations; run one Probe per core if that ever matters.
type Probe struct {
	path string
	meta Meta
	rt   *Runtime

	sem    chan struct{} // one slot: held while sess, in and out are used
	closed bool          // guarded by sem
	sess   *ort.AdvancedSession
	in     *ort.Tensor[float32] // [1, D]
	out    *ort.Tensor[float32] // [1, 1]
}

// newProbe creates the session for the ONNX bytes data. The caller holds
// the Runtime's lock, so the environment exists throughout.
func newProbe(data []byte, meta Meta, path string) (p *Probe, err error) {
	p = &Probe{path: path, meta: meta, sem: make(chan struct{}, 1)}
	defer func() {
		if err != nil {
			p.destroy()
		}
	}()
	if p.in, err = ort.NewEmptyTensor[float32](ort.NewShape(1, int64(meta.FeatureSize))); err != nil {
		return nil, fmt.Errorf("input tensor: %w", err)
	}
	if p.out, err = ort.NewEmptyTensor[float32](ort.NewShape(1, 1)); err != nil {
		return nil, fmt.Errorf("output tensor: %w", err)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	defer opts.Destroy()
	// One thread: the model is a dot product, and onnxruntime's thread pool
	// would spin on cores the local LLM needs.
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	p.sess, err = ort.NewAdvancedSessionWithONNXData(data, []string{InputName}, []string{OutputName},
		[]ort.Value{p.in}, []ort.Value{p.out}, opts)
	if err != nil {
		return nil, fmt.Errorf("onnxruntime session: %w", err)
	}
	return p, nil
}

// Meta returns the probe's metadata.
func (p *Probe) Meta() Meta { return p.meta.clone() }

// Path returns the file the probe was loaded from.
func (p *Probe) Path() string { return p.path }

// Predict returns the probability of the positive label for one feature
// vector (the local model's hidden state, len = Meta().FeatureSize). It
// waits for other calls on p unless ctx ends first.
func (p *Probe) Predict(ctx context.Context, features []float32) (float64, error) {
	if len(features) != p.meta.FeatureSize {
		return 0, fmt.Errorf("probe predict: %w", badInput("got %d features, probe %q takes %d", len(features), p.path, p.meta.FeatureSize))
	}
	for j, v := range features {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("probe predict: %w", badInput("feature %d is %v", j, v))
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("probe predict: %w", context.Cause(ctx))
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, fmt.Errorf("probe predict: %w", context.Cause(ctx))
	}
	defer func() { <-p.sem }()
	if p.closed {
		return 0, fmt.Errorf("probe predict %q: %w", p.path, ErrClosed)
	}
	copy(p.in.GetData(), features)
	if err := p.sess.Run(); err != nil {
		return 0, fmt.Errorf("probe predict %q: %w", p.path, err)
	}
	v := float64(p.out.GetData()[0])
	if math.IsNaN(v) {
		return 0, fmt.Errorf("probe predict %q: onnxruntime returned NaN", p.path)
	}
	return v, nil
}

// Close releases the probe's onnxruntime session, waiting for a running
// Predict. Closing twice is a no-op; Runtime.Close closes all probes.
func (p *Probe) Close() error {
	err := p.release()
	if p.rt != nil {
		p.rt.forget(p)
	}
	return err
}

// release destroys the session once, holding the semaphore.
func (p *Probe) release() error {
	p.sem <- struct{}{}
	defer func() { <-p.sem }()
	if p.closed {
		return nil
	}
	p.closed = true
	return p.destroy()
}

// destroy frees whatever parts of the session exist.
func (p *Probe) destroy() error {
	var errs []error
	if p.sess != nil {
		errs = append(errs, p.sess.Destroy())
		p.sess = nil
	}
	if p.in != nil {
		errs = append(errs, p.in.Destroy())
		p.in = nil
	}
	if p.out != nil {
		errs = append(errs, p.out.Destroy())
		p.out = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close probe %q: %w", p.path, err)
	}
	return nil
}
