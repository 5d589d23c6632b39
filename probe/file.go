package probe

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// WriteFile writes the probe as an ONNX file at path (WriteONNX): next to
// it first, then renamed into place, so a failed write never leaves a half
// file. The file is readable by all (a daemon may run as another user).
func WriteFile(path string, m *Logistic, meta Meta) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write probe: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := WriteONNX(tmp, m, meta); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write probe: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil { // readable by a daemon running as another user
		return fmt.Errorf("write probe: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write probe: %w", err)
	}
	return nil
}

// Check returns a *MismatchError (errors.Is ErrMismatch) when a probe with
// this metadata, read from path, cannot serve the local model wantModel as
// a probe of kind wantKind on features of size wantDim. An empty wantKind
// or a wantDim of 0 is not checked (doctor checks a probe before the local
// model's feature size is known). serve (through Runtime.Load and this) and
// doctor check a probe file with it.
func (m Meta) Check(path, wantModel string, wantKind FeatureKind, wantDim int) error {
	switch {
	case m.Model != wantModel:
		return &MismatchError{Path: path, Field: "model", Want: wantModel, Got: m.Model}
	case wantDim != 0 && m.FeatureSize != wantDim:
		return &MismatchError{Path: path, Field: "feature size", Want: strconv.Itoa(wantDim), Got: strconv.Itoa(m.FeatureSize)}
	case wantKind != "" && m.FeatureKind != wantKind:
		return &MismatchError{Path: path, Field: "feature kind", Want: string(wantKind), Got: string(m.FeatureKind)}
	}
	return nil
}

// SkipThreshold is a pre-generation probe's skip threshold: configured
// when it is at least 0 (the setting probe.pregen_threshold, -1 when unset),
// else the threshold calibrated by training and stored in the file (path,
// for the message); an error when there is neither.
func (m Meta) SkipThreshold(path string, configured float64) (float64, error) {
	if configured >= 0 {
		return configured, nil
	}
	if m.Threshold == nil {
		return 0, fmt.Errorf("%s has no calibrated threshold: set probe.pregen_threshold", path)
	}
	return *m.Threshold, nil
}

// kindName names a probe of a feature kind in messages.
func kindName(k FeatureKind) string {
	switch k {
	case FeatureAnswer:
		return "an answer probe"
	case FeaturePrompt:
		return "a pre-generation (prompt) probe"
	}
	return "a " + string(k) + " probe"
}
