#!/usr/bin/env bash
# Installs the browser of the dashboard's browser test
# (cmd/edgecascade/dashboard_test.go): Debian's chromium, run headless and
# driven over the DevTools protocol by github.com/chromedp/chromedp.
# Idempotent: nothing is installed when a chromium is already on PATH.
# Prints the browser's path on its last line; everything else goes to stderr.
set -euo pipefail

for name in chromium chromium-browser; do
  if p="$(command -v "$name")"; then
    echo "$p"
    exit 0
  fi
done
if ! command -v apt-get >/dev/null; then
  echo "no chromium and no apt-get: install chromium and set EDGECASCADE_CHROMIUM to its path" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update >&2
$sudo apt-get install -y --no-install-recommends chromium >&2
command -v chromium
