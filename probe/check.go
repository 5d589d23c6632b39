package probe

import "strconv"

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
