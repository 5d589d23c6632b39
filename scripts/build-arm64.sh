#!/usr/bin/env bash
# Cross-compiles edgecascade for linux/arm64 (NVIDIA Jetson, Raspberry Pi 4/5,
# Graviton) on an x86-64 Debian/Ubuntu machine, with cgo (onnxruntime_go
# loads libonnxruntime.so.1 at run time through dlopen).
#
# Installs gcc-aarch64-linux-gnu and qemu-user-static with apt when absent
# (qemu is for scripts/arm64-smoke.sh).
#
# glibc: a binary linked against the build machine's own cross glibc (Debian
# 12: 2.36) needs glibc 2.34 at run time: JetPack 6 (Ubuntu 22.04, glibc
# 2.35) but not JetPack 5 (Ubuntu 20.04, glibc 2.31). So by default this
# script links against Debian 11's arm64 cross glibc 2.31 instead, downloaded
# once with a private apt configuration (the system's apt state is not
# touched) and unpacked with dpkg-deb into
#   ${XDG_CACHE_HOME:-$HOME/.cache}/edgecascade/arm64-sysroot-bullseye
# The result needs only GLIBC_2.17 (the oldest arm64 glibc) and runs on
# JetPack 5 and 6. EDGECASCADE_ARM64_GLIBC=host links against the build
# machine's cross glibc instead (needs glibc 2.34, JetPack 6 and newer).
#
# Usage: build-arm64.sh [OUT]   (default dist/edgecascade-linux-arm64)
# Prints the binary's path on its last line; everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist/edgecascade-linux-arm64}"
mode="${EDGECASCADE_ARM64_GLIBC:-2.31}"

need=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu)
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
if [ "${#need[@]}" -gt 0 ]; then
  echo "build-arm64: installing ${need[*]} with apt" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >&2
fi

cgo_cflags="" cgo_ldflags=""
case "$mode" in
  host) ;;
  2.31)
    sysroot="${XDG_CACHE_HOME:-$HOME/.cache}/edgecascade/arm64-sysroot-bullseye"
    libdir="$sysroot/usr/aarch64-linux-gnu/lib"
    if [ ! -s "$sysroot/.complete" ]; then
      echo "build-arm64: fetching Debian 11's arm64 cross glibc 2.31 into $sysroot" >&2
      keyring=/usr/share/keyrings/debian-archive-keyring.gpg
      [ -s "$keyring" ] || {
        echo "build-arm64: $keyring is missing (apt-get install debian-archive-keyring), or use EDGECASCADE_ARM64_GLIBC=host" >&2
        exit 1
      }
      work="$(mktemp -d)"
      trap 'rm -rf "$work"' EXIT
      mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/debs"
      : >"$work/status"
      echo "deb [signed-by=$keyring] http://deb.debian.org/debian bullseye main" >"$work/sources.list"
      aptopts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::State::Lists=$work/lists" -o "Dir::State::status=$work/status"
        -o "Dir::Cache::archives=$work/archives" -o "Dir::Cache=$work" -o "APT::Architecture=amd64"
        -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
      apt-get -qq "${aptopts[@]}" update >&2
      (cd "$work/debs" && apt-get -qq "${aptopts[@]}" download \
        libc6-arm64-cross libc6-dev-arm64-cross linux-libc-dev-arm64-cross >&2)
      rm -rf "$sysroot"
      mkdir -p "$sysroot"
      for deb in "$work"/debs/*.deb; do
        dpkg-deb -x "$deb" "$sysroot"
      done
      # The linker scripts libc.so and libpthread.so name absolute paths
      # (/usr/aarch64-linux-gnu/lib/...), which would pick the build
      # machine's newer glibc: point them into the sysroot.
      for script in "$libdir"/*.so; do
        if [ ! -L "$script" ] && head -c 64 "$script" | grep -q "GNU ld script"; then
          sed -i "s|/usr/aarch64-linux-gnu/lib/|$libdir/|g" "$script"
        fi
      done
      grep -q "$libdir" "$libdir/libc.so" || {
        echo "build-arm64: $libdir/libc.so is not the expected linker script" >&2
        exit 1
      }
      ls "$work"/debs/*.deb | xargs -n1 basename >"$sysroot/.complete"
      rm -rf "$work"
      trap - EXIT
    fi
    cgo_cflags="-isystem $sysroot/usr/aarch64-linux-gnu/include"
    cgo_ldflags="-B$libdir -L$libdir"
    ;;
  *)
    echo "build-arm64: EDGECASCADE_ARM64_GLIBC=\"$mode\": want 2.31 (default) or host" >&2
    exit 2
    ;;
esac

version="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"
mkdir -p "$(dirname "$out")"
echo "build-arm64: building $out (glibc $mode, version $version)" >&2
CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc \
  CGO_CFLAGS="$cgo_cflags" CGO_LDFLAGS="$cgo_ldflags" \
  go build -trimpath -ldflags "-X main.version=$version" -o "$out" ./cmd/edgecascade

# The newest glibc symbol version the binary asks for is the oldest glibc it runs on.
glibc="$(aarch64-linux-gnu-objdump -T "$out" | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -n 1)"
echo "build-arm64: $out needs $glibc" >&2
if [ "$mode" = 2.31 ] && [ "$(printf '%s\n' "$glibc" GLIBC_2.17 | sort -V | tail -n 1)" != GLIBC_2.17 ]; then
  echo "build-arm64: expected at most GLIBC_2.17 when linking against glibc 2.31, got $glibc" >&2
  exit 1
fi
echo "$out"
