#!/usr/bin/env bash
# Smoke test of the linux/arm64 build under qemu-user (no arm64 machine
# needed): builds it with scripts/build-arm64.sh, then runs it with
# `qemu-aarch64-static -L /usr/aarch64-linux-gnu` (binfmt_misc is not
# needed) to check
#   1. edgecascade --version (also on Debian 11's glibc 2.31, as on JetPack 5);
#   2. `config validate` of every example configuration in configs/;
#   3. one ONNX probe inference with onnxruntime's arm64 library
#      (onnxruntime-node@1.24.1, scripts/install-onnxruntime.sh arm64): the
#      probability must match the amd64 build's with the x64 library, and
#      the float64 reference computed from the probe's weights.
# scripts/test.sh runs it. Usage: arm64-smoke.sh (no arguments).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

bin="$(scripts/build-arm64.sh "$work/edgecascade-linux-arm64" | tail -n 1)"
lib_arm64="$(scripts/install-onnxruntime.sh arm64 | tail -n 1)"
lib_x64="$(scripts/install-onnxruntime.sh x64 | tail -n 1)"
qemu=(qemu-aarch64-static -L /usr/aarch64-linux-gnu)

fail() {
  echo "arm64-smoke: FAIL: $*" >&2
  exit 1
}

file_info="$(file -b "$bin" 2>/dev/null || true)"
case "$file_info" in
  "" | *aarch64* | *"ARM aarch64"*) ;;
  *) fail "$bin is not an arm64 binary: $file_info" ;;
esac

echo "== arm64: --version"
"${qemu[@]}" "$bin" --version | tee "$work/version"
grep -q "^edgecascade version " "$work/version" || fail "--version printed no version"

# JetPack 5 has glibc 2.31: run against Debian 11's arm64 glibc 2.31, the
# sysroot build-arm64.sh linked with (absent with EDGECASCADE_ARM64_GLIBC=host).
glibc231="${XDG_CACHE_HOME:-$HOME/.cache}/edgecascade/arm64-sysroot-bullseye/usr/aarch64-linux-gnu"
if [ "${EDGECASCADE_ARM64_GLIBC:-2.31}" = 2.31 ]; then
  echo "== arm64 on glibc 2.31 (JetPack 5): --version"
  [ -e "$glibc231/lib/libc-2.31.so" ] || fail "no glibc 2.31 sysroot at $glibc231"
  qemu-aarch64-static -L "$glibc231" "$bin" --version || fail "--version on glibc 2.31"
  qemu-aarch64-static -L "$glibc231" "$bin" config validate --config configs/jetson.yaml || fail "config validate on glibc 2.31"
fi

echo "== arm64: config validate"
for cfg in configs/default.yaml configs/laptop.yaml configs/jetson.yaml configs/kiosk.yaml; do
  "${qemu[@]}" "$bin" config validate --config "$cfg" || fail "config validate $cfg"
done
# A bad configuration must fail there too, naming the key.
printf 'cascade:\n  scorer: vibes\n' >"$work/bad.yaml"
if "${qemu[@]}" "$bin" config validate --config "$work/bad.yaml" 2>"$work/bad.err"; then
  fail "config validate accepted a bad scorer"
fi
grep -q "cascade.scorer" "$work/bad.err" || fail "config validate did not name cascade.scorer: $(cat "$work/bad.err")"

echo "== arm64: one ONNX probe inference"
# docs/eval-scorers/probe.onnx: the test bed's answer probe, 128 features.
# The vector has norm 0.1 (hidden states are L2-normalized), which puts the
# probability well inside (0, 1), so the comparison means something.
probe_file=docs/eval-scorers/probe.onnx
awk 'BEGIN { for (i = 0; i < 128; i++) { v[i] = sin(i * 0.37); n += v[i] * v[i] }
             for (i = 0; i < 128; i++) printf "%.6f\n", 0.1 * v[i] / sqrt(n) }' >"$work/features"
go build -o "$work/edgecascade-host" ./cmd/edgecascade
host_out="$("$work/edgecascade-host" probe predict --probe "$probe_file" --features-file "$work/features" --onnxruntime-lib "$lib_x64")" ||
  fail "probe predict on the host"
arm_out="$("${qemu[@]}" "$bin" probe predict --probe "$probe_file" --features-file "$work/features" --onnxruntime-lib "$lib_arm64")" ||
  fail "probe predict on arm64"
echo "host:  $host_out" | head -n 1
echo "arm64: $arm_out" | head -n 1
p_host="$(echo "$host_out" | awk '/^probability/ { print $2 }')"
p_arm="$(echo "$arm_out" | awk '/^probability/ { print $2 }')"
[ -n "$p_host" ] && [ -n "$p_arm" ] || fail "no probability printed"
awk -v p="$p_host" 'BEGIN { exit !(p > 0.001 && p < 0.999) }' || fail "probability $p_host is too close to 0 or 1 to compare: change the features"
echo "$arm_out" | grep -q "linux/arm64" || fail "the arm64 run did not report linux/arm64: $arm_out"
awk -v a="$p_host" -v b="$p_arm" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-6) }' ||
  fail "arm64 probability $p_arm differs from amd64 $p_host"

echo "arm64-smoke: OK in $((SECONDS - start))s (amd64 $p_host, arm64 $p_arm)"
