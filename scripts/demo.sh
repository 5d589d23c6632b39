#!/usr/bin/env bash
# The cascade's main job on the test bed, on a fresh machine: installs Ollama
# (from the Go module proxy) when absent, builds edgecascade, starts both and
# sends test bed questions, printing each route, confidence and answer.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"
EDGECASCADE_OLLAMA_BIN="$(scripts/install-ollama.sh | tail -n 1)"
export EDGECASCADE_OLLAMA_BIN
mkdir -p bin
go build -o bin/edgecascade ./cmd/edgecascade
# The committed calibration of the weak model (docs/eval-testbed, made by
# scripts/eval-testbed.sh) supplies the threshold and calibrated confidences.
exec go run ./scripts/demo -bin bin/edgecascade -calibration docs/eval-testbed/calibration.json "$@"
