#!/usr/bin/env bash
# Reproduces docs/eval-testbed/: calibrates the weak test bed model on
# calib.jsonl (mean-logprob scorer, target accuracy 0.9, delta 0.1) and
# evaluates the cascade on val.jsonl with the strong model as the cloud.
# About 10 minutes on 2 cores; answers are cached under out/cache. The cloud
# cost uses gpt-4o-mini's list prices (USD per 1K tokens) as an illustration:
# the test bed's strong model stands in for a priced cloud model.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"
EDGECASCADE_OLLAMA_BIN="$(scripts/install-ollama.sh | tail -n 1)"
export EDGECASCADE_OLLAMA_BIN
mkdir -p bin docs/eval-testbed
go build -o bin/edgecascade ./cmd/edgecascade
go run ./scripts/withbed -- sh -c '
  set -e
  bin/edgecascade calibrate --data testdata/testbed/data/calib.jsonl --cache-dir out/cache \
    --cascade.scorer mean_logprob --target-accuracy 0.9 --delta 0.1 --out docs/eval-testbed/calibration.json
  bin/edgecascade eval --data testdata/testbed/data/val.jsonl --cache-dir out/cache \
    --cloud.cost_input_per_1k 0.00015 --cloud.cost_output_per_1k 0.0006 \
    --calibration docs/eval-testbed/calibration.json --out docs/eval-testbed
' 2>&1 | tee docs/eval-testbed/run.log
