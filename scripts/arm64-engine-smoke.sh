#!/usr/bin/env bash
# Cross-builds edgecascade with the in-process llama.cpp engine
# (-tags llamacpp) for linux/arm64 (Jetson-class boards) and runs one
# generation with the test bed's weak model under qemu user emulation,
# checking the answer. Installs the cross compilers and qemu when absent.
# The cross build compiles llama.cpp for arm64: several minutes on 2 cores
# the first time (cached afterwards). Prints the build and run times.
#
#   scripts/arm64-engine-smoke.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-$(mktemp -d)}"
mkdir -p "$out"

if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user-static >&2
fi

# The headers llama.cpp needs are header-only and the same for every
# architecture, but the cross compiler does not search /usr/include (that
# would pull in the host's glibc headers): give it only these three. The
# folder's path is fixed so that Go's build cache is reused between runs.
inc="$(scripts/install-llama-headers.sh | tail -n 1)"
cross="$(go env GOPATH)/ollama-include-cross"
mkdir -p "$cross"
ln -sfn /usr/include/nlohmann "$cross/nlohmann"
ln -sfn /usr/include/stb "$cross/stb"
ln -sfn "$inc/miniaudio" "$cross/miniaudio"

bin="$out/edgecascade-arm64"
echo "== cross-building $bin (linux/arm64, -tags llamacpp)"
t0=$(date +%s)
CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ \
  CGO_CPPFLAGS="-I$cross" go build -tags llamacpp -o "$bin" ./cmd/edgecascade
t1=$(date +%s)
echo "built in $((t1 - t0)) s"
command -v file >/dev/null && file -b "$bin" | cut -d, -f1-2

echo "== one generation under qemu-aarch64-static"
t0=$(date +%s.%N)
answer="$(qemu-aarch64-static -L /usr/aarch64-linux-gnu "$bin" ask --policy local \
  --local.backend llamacpp --local.model testdata/testbed/models/weak.gguf --local.chat_template chatml \
  --cloud.base_url http://127.0.0.1:1/v1 --log.level warn "Spell rmzf backwards.")"
t1=$(date +%s.%N)
echo "$answer"
first="$(printf '%s\n' "$answer" | head -n 1)"
if [ "$first" != "fzmr" ]; then
  echo "arm64 smoke: answer $first, want fzmr (the amd64 engine's and Ollama's answer)" >&2
  exit 1
fi
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "arm64 smoke: ok, load + one answer under qemu in %.2f s\n", b - a }'
