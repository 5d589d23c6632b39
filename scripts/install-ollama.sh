#!/usr/bin/env bash
# Installs Ollama when it is not on PATH, by building it from the Go module
# proxy (Ollama is not packaged in Debian). About 7 minutes on 2 cores; reused
# when present. Prints the path of the ollama binary on its last line.
set -euo pipefail
OLLAMA_VERSION="${OLLAMA_VERSION:-v0.17.4}"
gobin="$(go env GOPATH)/bin"

if command -v ollama >/dev/null 2>&1; then
  command -v ollama
  exit 0
fi
if [ -x "$gobin/ollama" ]; then
  echo "$gobin/ollama"
  exit 0
fi

echo "install-ollama: building ollama $OLLAMA_VERSION from the Go module proxy (about 7 minutes)..." >&2
inc="$("$(dirname "$0")/install-llama-headers.sh" | tail -n 1)"

CGO_CPPFLAGS="-I$inc" go install -ldflags "-X github.com/ollama/ollama/version.Version=${OLLAMA_VERSION#v}" "github.com/ollama/ollama@$OLLAMA_VERSION" >&2
echo "$gobin/ollama"
