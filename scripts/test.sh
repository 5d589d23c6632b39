#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need
# (Ollama, built from the Go module proxy; onnxruntime's library from npm),
# then vets and tests every package against the real components.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"

echo "== installing test dependencies"
EDGECASCADE_OLLAMA_BIN="$(scripts/install-ollama.sh | tail -n 1)"
export EDGECASCADE_OLLAMA_BIN
echo "ollama: $EDGECASCADE_OLLAMA_BIN ($("$EDGECASCADE_OLLAMA_BIN" --version 2>/dev/null | tail -n 1))"
if [ -x scripts/install-onnxruntime.sh ]; then
  EDGECASCADE_ONNXRUNTIME_LIB="$(scripts/install-onnxruntime.sh | tail -n 1)"
  export EDGECASCADE_ONNXRUNTIME_LIB
  echo "onnxruntime: $EDGECASCADE_ONNXRUNTIME_LIB"
fi

echo "== go vet"
go vet ./...
# The Rust tokenizer cannot be linked here (no libtokenizers.a): compile-check it.
go vet -tags daulet ./models/tokenizer/
echo "== go test"
go test -count=1 -timeout 30m "$@" ./...
echo "== arm64 cross-build, smoke-tested under qemu"
scripts/arm64-smoke.sh
