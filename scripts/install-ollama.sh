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
if ! dpkg -s nlohmann-json3-dev libstb-dev >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq nlohmann-json3-dev libstb-dev >&2
fi

inc="$(go env GOPATH)/ollama-include"
if [ ! -f "$inc/miniaudio/miniaudio.h" ]; then
  malgo_dir="$(go mod download -json github.com/gen2brain/malgo@v0.11.24 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$malgo_dir" ] || { echo "install-ollama: could not download github.com/gen2brain/malgo" >&2; exit 1; }
  mkdir -p "$inc/miniaudio"
  cp "$malgo_dir/miniaudio.h" "$inc/miniaudio/miniaudio.h"
fi

CGO_CPPFLAGS="-I$inc" go install -ldflags "-X github.com/ollama/ollama/version.Version=${OLLAMA_VERSION#v}" "github.com/ollama/ollama@$OLLAMA_VERSION" >&2
echo "$gobin/ollama"
