#!/usr/bin/env bash
# Reproduces docs/eval-stages/: three stages on the test bed, tiny-weak
# (Ollama) → tiny-strong (Ollama) → cloudsim (the frontier simulator of the
# shared test bed, 95% right, 300 ms median latency). Calibrates the
# thresholds of both local stages jointly on calib.jsonl (target 90% of
# accepted local answers right, delta 0.1), and each local stage alone
# before the cloud at the same promise; evaluates all of them on val.jsonl.
# Answers are cached under out/cache (each model, and the cloud per
# address: the two simulators listen on fixed ports so that re-runs hit the
# cache; Ollama may give the re-imported models new digests, and then the
# local answers are collected again). Collecting every answer takes about
# 30 minutes on 2 cores. The per-item scores are kept in
# docs/eval-stages/*-samples.jsonl: `edgecascade eval --config
# docs/eval-stages/val.yaml --samples-in docs/eval-stages/val-samples.jsonl
# --calibration docs/eval-stages/calibration.json --out DIR` re-reports in
# seconds without any model.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"
EDGECASCADE_OLLAMA_BIN="$(scripts/install-ollama.sh | tail -n 1)"
export EDGECASCADE_OLLAMA_BIN OPENAI_API_KEY=test EDGECASCADE_RESOURCES_ENABLED=false
SIM="${EDGECASCADE_CLOUDSIM_DIR:-../shared/testbed/cloudsim}"
DATA=testdata/testbed/data
mkdir -p bin docs/eval-stages
go build -o bin/edgecascade ./cmd/edgecascade
(cd "$SIM" && go build -o "$OLDPWD/bin/cloudsim" .)
bin/cloudsim -data $DATA/calib.jsonl,$DATA/val.jsonl -listen 127.0.0.1:18771 >/dev/null &
A=$!
bin/cloudsim -data $DATA/calib.jsonl,$DATA/val.jsonl -listen 127.0.0.1:18772 >/dev/null &
B=$!
trap 'kill $A $B' EXIT
config() { # cloudsim port
  cat <<YAML
cloud: {max_retries: 0}
cascade:
  stages:
    - {name: weak, backend: ollama, model: tiny-weak, scorer: mean_logprob}
    - {name: strong, backend: ollama, model: tiny-strong, scorer: mean_logprob}
    - {name: cloud, provider: openai, base_url: "http://127.0.0.1:$1/v1", model: frontier-sim}
YAML
}
config 18771 > docs/eval-stages/calib.yaml
config 18772 > docs/eval-stages/val.yaml
go run ./scripts/withbed -- sh -c '
  set -e
  bin/edgecascade calibrate --config docs/eval-stages/calib.yaml --data testdata/testbed/data/calib.jsonl --cache-dir out/cache \
    --target-accuracy 0.9 --delta 0.1 --out docs/eval-stages/calibration.json \
    --samples-out docs/eval-stages/calib-samples.jsonl
  bin/edgecascade eval --config docs/eval-stages/val.yaml --data testdata/testbed/data/val.jsonl --cache-dir out/cache \
    --calibration docs/eval-stages/calibration.json --out docs/eval-stages \
    --samples-out docs/eval-stages/val-samples.jsonl
' 2>&1 | grep -v "ETA" | tee docs/eval-stages/run.log
