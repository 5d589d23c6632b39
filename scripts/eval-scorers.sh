#!/usr/bin/env bash
# Reproduces docs/eval-scorers/: every confidence signal side by side on the
# test bed's Self-REF model (local) with the strong model as the cloud.
#   1. train the answer probe and the pre-generation probe on calib.jsonl items 1-1000;
#   2. calibrate every scorer (and fit the combined scorer) on items 1001-2000
#      at a target cloud-call rate of 0.5 (every scorer gets a threshold; the
#      Self-REF model is right only about half the time, and no threshold of
#      its confidence token certifies 90% accuracy on 1,000 items);
#   3. evaluate on all 2,000 items of val.jsonl.
# About 15 minutes on 2 cores; answers and features are cached under out/cache.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"
EDGECASCADE_OLLAMA_BIN="$(scripts/install-ollama.sh | tail -n 1)"
EDGECASCADE_PROBE_ONNXRUNTIME_LIB="$(scripts/install-onnxruntime.sh | tail -n 1)"
export EDGECASCADE_OLLAMA_BIN EDGECASCADE_PROBE_ONNXRUNTIME_LIB
out=docs/eval-scorers
mkdir -p bin "$out"
go build -o bin/edgecascade ./cmd/edgecascade
go run ./scripts/withbed -- sh -c '
  set -e
  export EDGECASCADE_LOCAL_MODEL=tiny-selfref EDGECASCADE_CASCADE_SCORER=selfref
  data=testdata/testbed/data
  bin/edgecascade probe train --data $data/calib.jsonl --limit 1000 --cache-dir out/cache --out '"$out"'/probe.onnx
  bin/edgecascade probe train --data $data/calib.jsonl --limit 1000 --cache-dir out/cache --out '"$out"'/pregen.onnx --pregen
  export EDGECASCADE_PROBE_PATH='"$out"'/probe.onnx EDGECASCADE_PROBE_PREGEN_PATH='"$out"'/pregen.onnx
  bin/edgecascade calibrate --data $data/calib.jsonl --offset 1000 --cache-dir out/cache \
    --target-cloud-rate 0.5 --out '"$out"'/calibration.json
  bin/edgecascade eval --data $data/val.jsonl --cache-dir out/cache \
    --calibration '"$out"'/calibration.json --out '"$out"'
' 2>&1 | grep -v -E "^(calibrate|eval|probe[^:]*): [0-9]+/[0-9]+ " | tee "$out/run.log"
