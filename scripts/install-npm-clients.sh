#!/usr/bin/env bash
# Installs what cmd/edgecascade's TestNPMClients needs: Node.js (20 or
# later) and npm from Debian when missing, then the npm clients pinned by
# cmd/edgecascade/testdata/npm/package-lock.json (npm ci). Prints node's
# version on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq nodejs npm >&2
fi
major="$(node --version | sed 's/^v\([0-9]*\).*/\1/')"
if [ "$major" -lt 20 ]; then
  echo "install-npm-clients: node $(node --version) is too old: the npm clients need Node.js 20 or later" >&2
  exit 1
fi
(cd cmd/edgecascade/testdata/npm && npm ci --no-audit --no-fund >&2)
node --version
