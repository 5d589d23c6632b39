// Package probe trains, stores and runs hidden-state probes: small logistic
// regressions on a local model's final hidden state that estimate how likely
// the local answer is to be good (one of the confidence signals the cascade
// uses to decide whether to escalate to a cloud model).
//
// A probe's life:
//
//   - Train fits an L2-regularized logistic regression on features X and
//     labels y, deterministically. Features are standardized during training
//     and the standardization is folded back into the weights, so the
//     resulting Logistic takes raw features. Logistic.Predict evaluates it in
//     pure Go (float64).
//   - WriteONNX stores a Logistic as an ONNX model (IR version 8, opset 13):
//     input "features" float32 [N, D], MatMul + Add + Sigmoid, output
//     "probability" float32 [N, 1]. Meta (the local model the probe was trained
//     for, feature size and kind, threshold, training date, counts) goes into
//     the model's metadata_props. ReadMeta and ReadONNX read a probe back in
//     pure Go, without onnxruntime.
//   - Runtime loads the onnxruntime shared library (setting
//     probe.onnxruntime_lib; scripts/install-onnxruntime.sh installs it) and
//     Runtime.Load opens a probe for a given local model and feature size;
//     Probe.Predict runs it.
//
// # onnxruntime is process-global
//
// github.com/yalue/onnxruntime_go keeps the shared library handle and the
// onnxruntime environment (OrtEnv) in package variables of its own, without a
// lock: there is at most one environment per process, and it uses one library
// file. Runtime is the handle on that environment. Create one Runtime at
// startup, share it (its methods are safe for concurrent use), and Close it at
// shutdown; NewRuntime fails with ErrRuntimeExists while another Runtime (or
// any other user of onnxruntime_go in the process) holds the environment.
// Closing the Runtime closes every probe it loaded, after which a new Runtime
// may be created. Code outside this package must not call onnxruntime_go's
// InitializeEnvironment or DestroyEnvironment itself.
//
// The only package-level mutable state here is envMu, a mutex that makes
// "check whether the environment exists, then create (or destroy) it" atomic;
// it exists because the library's globals are unguarded and holds no data.
//
// Without cgo, onnxruntime cannot be used: NewRuntime returns ErrNoCgo, and
// training, WriteONNX, ReadONNX and Logistic.Predict still work.
package probe
