#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need
# (Ollama, built from the Go module proxy; onnxruntime's library from npm;
# Node.js and the npm clients that TestNPMClients runs against the daemon;
# Debian's chromium for the dashboard's browser test),
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
EDGECASCADE_CHROMIUM="$(scripts/install-chromium.sh | tail -n 1)"
export EDGECASCADE_CHROMIUM
echo "chromium: $EDGECASCADE_CHROMIUM"

echo "node: $(scripts/install-npm-clients.sh | tail -n 1) (the npm clients of TestNPMClients)"

echo "== go vet"
go vet ./...
# The Rust tokenizer cannot be linked here (no libtokenizers.a): compile-check it.
go vet -tags daulet ./models/tokenizer/
# The default binary must not link llama.cpp: the in-process engine is opt-in.
if go list -deps ./cmd/edgecascade | grep -qx 'github.com/ollama/ollama/llama'; then
  echo "the default build of cmd/edgecascade links github.com/ollama/ollama/llama; keep it behind -tags llamacpp" >&2
  exit 1
fi
echo "== go test"
go test -count=1 -timeout 30m "$@" ./...

# The in-process llama.cpp engine (build tag llamacpp) compiles llama.cpp
# through cgo: a few minutes on 2 cores the first time, cached afterwards.
echo "== in-process llama.cpp engine (-tags llamacpp)"
CGO_CPPFLAGS="-I$(scripts/install-llama-headers.sh | tail -n 1)"
export CGO_CPPFLAGS
go vet -tags llamacpp ./models/llamaengine/ ./cmd/edgecascade/
go test -count=1 -timeout 30m -tags llamacpp "$@" ./models/llamaengine/
go test -count=1 -timeout 30m -tags llamacpp -run 'TestLocalBackend' ./cmd/edgecascade/

echo "== arm64 cross-build, smoke-tested under qemu"
scripts/arm64-smoke.sh

# The in-process engine cross-builds too: one generation with the test bed's
# weak model under qemu (about 10 minutes cold, seconds when cached).
echo "== arm64 in-process engine, one generation under qemu"
scripts/arm64-engine-smoke.sh
