#!/usr/bin/env bash
# Reproduces docs/adaptation/: the drifting stream (scripts/driftstream from
# the test bed's val.jsonl: 500 items in the calibration mix, then 900 where
# 80% are rare facts) replayed in order through three daemons on the real
# test bed (Ollama with the weak model as the local one), each starting from
# docs/eval-testbed/calibration.json (mean_logprob, 90% target):
#   static             adaptation off; also asks every item under policy local
#                      (--oracle) for the best threshold in hindsight
#   adaptive           adapt.enabled, cloudsim (95% right, adapt.cloud_accuracy
#                      0.95) as the cloud and labeller, exploration 3%,
#                      feedback on 10% of answers, groups by task
#   adaptive-weak-labeller  the same with the test bed's strong model (via
#                      Ollama) as the cloud: a weaker labeller, of accuracy
#                      not stated (adapt.cloud_accuracy 1)
# SKIP_STATIC=1 reuses the static run in $OUT/static.
# then writes docs/adaptation/report.md with plots. About 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-docs/adaptation}"
EDGECASCADE_OLLAMA_BIN="$(scripts/install-ollama.sh | tail -n 1)"
export EDGECASCADE_OLLAMA_BIN OUT
mkdir -p bin "$OUT"
go build -o bin/edgecascade ./cmd/edgecascade
CLOUDSIM_SRC="${CLOUDSIM_SRC:-../shared/testbed/cloudsim}"
(cd "$CLOUDSIM_SRC" && go build -o "$OLDPWD/bin/cloudsim" .)
go run ./scripts/driftstream -val testdata/testbed/data/val.jsonl -out "$OUT/stream.jsonl" ${STREAM_ARGS:-}
go run ./scripts/withbed -- bash -c '
set -euo pipefail
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
# waitline FILE PREFIX: the rest of the first line of FILE starting with PREFIX.
waitline() { for _ in $(seq 300); do l=$(grep -m1 "^$2" "$1" 2>/dev/null || true); if [ -n "$l" ]; then echo "${l#"$2"}" | cut -d" " -f1; return; fi; sleep 0.2; done; echo "timed out waiting for $2 in $1" >&2; cat "$1" >&2; exit 1; }
bin/cloudsim -data testdata/testbed/data/calib.jsonl,testdata/testbed/data/val.jsonl -listen 127.0.0.1:0 >"$work/cloudsim.out" 2>&1 &
pids+=($!)
SIM="$(waitline "$work/cloudsim.out" "cloudsim listening on ")"
STRONG_URL="$EDGECASCADE_CLOUD_BASE_URL" STRONG_MODEL="$EDGECASCADE_CLOUD_MODEL"
# daemon NAME CLOUD_URL CLOUD_MODEL [settings...]: start one (stopping the
# one before), its URL in U.
daemon() {
  for p in "${pids[@]:1}"; do kill "$p" 2>/dev/null || true; done
  pids=("${pids[0]}")
  local name=$1 url=$2 model=$3; shift 3
  mkdir -p "$work/$name"
  EDGECASCADE_DATA_DIR="$work/$name" EDGECASCADE_CLOUD_BASE_URL="$url" EDGECASCADE_CLOUD_MODEL="$model" \
    bin/edgecascade serve --listen 127.0.0.1:0 --cascade.scorer mean_logprob \
    --cascade.calibration docs/eval-testbed/calibration.json --outbox.enabled=false "$@" \
    >"$work/$name/stdout" 2>"$work/$name/stderr" &
  pids+=($!)
  U="$(waitline "$work/$name/stdout" "listening on ")"
}
ADAPT=(--adapt.enabled --adapt.explore_rate 0.03 --adapt.agreement normalized)
if [ "${SKIP_STATIC:-0}" = 1 ]; then :; else
daemon static "$SIM/v1" frontier-sim
bin/edgecascade replay --url "$U" --data "$OUT/stream.jsonl" --oracle --out "$OUT/static"
fi
# cloudsim is right 95% of the time, and says so.
daemon adaptive "$SIM/v1" frontier-sim "${ADAPT[@]}" --adapt.cloud_accuracy 0.95
bin/edgecascade replay --url "$U" --data "$OUT/stream.jsonl" --feedback-rate 0.1 --group-by task --out "$OUT/adaptive"
curl -s "$SIM/stats" >"$OUT/adaptive/cloudsim-stats.json" || true
if [ "${WEAK_LABELLER:-1}" = 1 ]; then
  daemon adaptive-weak-labeller "$STRONG_URL" "$STRONG_MODEL" "${ADAPT[@]}"
  bin/edgecascade replay --url "$U" --data "$OUT/stream.jsonl" --feedback-rate 0.1 --group-by task --out "$OUT/adaptive-weak-labeller"
  runs="$OUT/static,$OUT/adaptive,$OUT/adaptive-weak-labeller"
else
  runs="$OUT/static,$OUT/adaptive"
fi
for n in adaptive adaptive-weak-labeller; do
  grep -h "adaptation" "$work/$n/stderr" >"$OUT/$n.drift.log" 2>/dev/null || true
done
bin/edgecascade replay --compare "$runs" --out "$OUT"
' 2>&1 | tee "$OUT/run.log"
