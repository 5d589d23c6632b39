#!/usr/bin/env bash
# Installs the C/C++ headers that Ollama's vendored llama.cpp needs beyond its
# own sources (Go module zips drop folders named vendor): nlohmann/json and
# stb from Debian, miniaudio.h from the Go module github.com/gen2brain/malgo.
# Used to build the ollama binary (scripts/install-ollama.sh) and the
# in-process engine (go build -tags llamacpp). Prints the include folder to
# pass as CGO_CPPFLAGS=-I<folder> on its last line.
set -euo pipefail

if ! dpkg -s nlohmann-json3-dev libstb-dev >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq nlohmann-json3-dev libstb-dev >&2
fi

inc="$(go env GOPATH)/ollama-include"
if [ ! -f "$inc/miniaudio/miniaudio.h" ]; then
  malgo_dir="$(go mod download -json github.com/gen2brain/malgo@v0.11.24 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$malgo_dir" ] || { echo "install-llama-headers: could not download github.com/gen2brain/malgo" >&2; exit 1; }
  mkdir -p "$inc/miniaudio"
  cp "$malgo_dir/miniaudio.h" "$inc/miniaudio/miniaudio.h"
fi
echo "$inc"
