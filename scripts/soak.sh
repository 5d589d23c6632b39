#!/usr/bin/env bash
# The soak test: drives the real daemon with the test bed's models at a
# steady concurrent load while a chaos loop flaps the cloud, kills Ollama and
# the daemon, sends SIGHUP and fills the data folder; then checks that no
# promise broke (cmd/edgecascade-soak says which). Not part of CI.
#
#   scripts/soak.sh [--duration 10m] [--out DIR] [--commit-result] [-- SOAK FLAGS]
#
# --commit-result copies the run's table (DIR/soak.md) to docs/soak.md.
# Needs the shared test bed beside the repository (../shared/testbed, or
# EDGECASCADE_TESTBED) for cloudsim, and root to mount the small tmpfs (else
# the data folder is a plain folder and the disk-full events are skipped).
# Exits 1 when an invariant failed, 2 when the run could not be made.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10m
out=out/soak
commit=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --duration=*) duration="${1#*=}"; shift ;;
    --out) out="$2"; shift 2 ;;
    --out=*) out="${1#*=}"; shift ;;
    --commit-result) commit=1; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

bed="${EDGECASCADE_TESTBED:-../shared/testbed}"
if [ ! -d "$bed/cloudsim" ]; then
  echo "soak.sh: no cloudsim at $bed/cloudsim (set EDGECASCADE_TESTBED to the shared test bed)" >&2
  exit 2
fi
export PATH="$(go env GOPATH)/bin:$PATH"
EDGECASCADE_OLLAMA_BIN="$(scripts/install-ollama.sh | tail -n 1)"
export EDGECASCADE_OLLAMA_BIN

mkdir -p "$out"
out="$(cd "$out" && pwd)"
echo "soak.sh: building edgecascade, cloudsim and the soak driver into $out" >&2
go build -o "$out/edgecascade" ./cmd/edgecascade
(cd "$bed/cloudsim" && go build -o "$out/cloudsim" .)
go build -o "$out/edgecascade-soak" ./cmd/edgecascade-soak

rev="$(git describe --always --dirty 2>/dev/null || echo unknown)"
status=0
"$out/edgecascade-soak" -bin "$out/edgecascade" -cloudsim "$out/cloudsim" \
  -questions "$bed/data/val.jsonl" -cloud-data "$bed/data/calib.jsonl,$bed/data/val.jsonl" \
  -duration "$duration" -out "$out" -rev "$rev" ${extra[@]+"${extra[@]}"} || status=$?

if [ "$commit" = 1 ] && [ -f "$out/soak.md" ] && [ "$status" -le 1 ]; then
  cp "$out/soak.md" docs/soak.md
  echo "soak.sh: copied the result to docs/soak.md" >&2
fi
exit "$status"
