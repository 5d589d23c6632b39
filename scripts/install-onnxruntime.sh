#!/usr/bin/env bash
# Installs the onnxruntime shared library used by the hidden-state probes
# (package probe, setting probe.onnxruntime_lib).
#
# github.com/yalue/onnxruntime_go v1.27.0 needs the C API version 24, i.e.
# onnxruntime 1.24.x. Debian does not package it, so the library is taken from
# the npm package onnxruntime-node (CPU execution provider only, glibc >= 2.27),
# fetched with `npm pack` (about 86 MB, checked by npm against the registry's
# integrity hash). Both Linux builds are extracted:
#
#   $CACHE/<version>/linux/x64/libonnxruntime.so.1     (about 35 MB)
#   $CACHE/<version>/linux/arm64/libonnxruntime.so.1   (about 19 MB)
#
# CACHE is $EDGECASCADE_ONNXRUNTIME_CACHE, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/edgecascade/onnxruntime. The version is
# $EDGECASCADE_ONNXRUNTIME_VERSION, else 1.24.1 (keep it at 1.24.x or newer:
# older releases lack C API version 24).
#
# Idempotent: when both libraries are present nothing is downloaded.
# Usage: install-onnxruntime.sh [x64|amd64|arm64|aarch64]
# Prints the library path for the given architecture (default: the host's) on
# its last line; everything else goes to stderr.
set -euo pipefail

ORT_VERSION="${EDGECASCADE_ONNXRUNTIME_VERSION:-1.24.1}"
cache_root="${EDGECASCADE_ONNXRUNTIME_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgecascade/onnxruntime}"
dest="$cache_root/$ORT_VERSION"

arch="${1:-$(uname -m)}"
case "$arch" in
  x86_64 | amd64 | x64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *)
    echo "install-onnxruntime: unsupported architecture \"$arch\" (want x64 or arm64)" >&2
    exit 2
    ;;
esac

have_all() {
  [ -s "$dest/linux/x64/libonnxruntime.so.1" ] && [ -s "$dest/linux/arm64/libonnxruntime.so.1" ]
}

if ! have_all; then
  command -v npm >/dev/null 2>&1 || {
    echo "install-onnxruntime: npm not found (Debian: apt-get install -y npm)" >&2
    exit 1
  }
  mkdir -p "$cache_root"
  work="$(mktemp -d "$cache_root/.tmp.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "install-onnxruntime: fetching onnxruntime-node@$ORT_VERSION with npm pack (about 86 MB)..." >&2
  (cd "$work" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >&2)
  tgz="$work/onnxruntime-node-$ORT_VERSION.tgz"
  [ -s "$tgz" ] || {
    echo "install-onnxruntime: npm pack did not produce $tgz" >&2
    exit 1
  }
  tar -xzf "$tgz" -C "$work" \
    package/bin/napi-v6/linux/x64/libonnxruntime.so.1 \
    package/bin/napi-v6/linux/arm64/libonnxruntime.so.1
  rm -f "$tgz"
  for a in x64 arm64; do
    mkdir -p "$dest/linux/$a"
    # Rename within the cache file system so a reader never sees a partial file.
    mv "$work/package/bin/napi-v6/linux/$a/libonnxruntime.so.1" "$dest/linux/$a/.libonnxruntime.so.1.new"
    mv -f "$dest/linux/$a/.libonnxruntime.so.1.new" "$dest/linux/$a/libonnxruntime.so.1"
  done
  echo "install-onnxruntime: installed in $dest/linux" >&2
fi

echo "$dest/linux/$arch/libonnxruntime.so.1"
