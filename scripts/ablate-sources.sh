#!/usr/bin/env bash
# What each training source adds: version 6's recipe (6 epochs from version 5's file) run
# again with one source left out, each result exported the way the app loads it and
# measured on every val set through the app's own path. Prints one table row per run.
#
#   scripts/ablate-sources.sh [run ...]     runs: no-expw no-sfew no-imfdb fer-only
#
# Needs `make trainer`, the data sets unpacked in data/ and the app crops made as in
# docs/model-card.md ("Version 6"). Each run takes about 25 minutes on 2 cores (AMX, bf16).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/torch-env.sh
runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(no-expw no-sfew no-imfdb fer-only)
v5=runs/ablation/v5.onnx
mkdir -p runs/ablation
[ -f "$v5" ] || git show 1c8c075:public/models/mien.onnx > "$v5"
sfew=(--extra data/sfew/train --extra data/sfew-train-app)
expw=(--extra data/expw-train-app)
imfdb=(--extra data/imfdb --extra data/imfdb-app)
for run in "${runs[@]}"; do
  case "$run" in
    no-expw) extra=("${sfew[@]}" "${imfdb[@]}") ;;
    no-sfew) extra=("${expw[@]}" "${imfdb[@]}") ;;
    no-imfdb) extra=("${sfew[@]}" "${expw[@]}") ;;
    fer-only) extra=() ;;
    *) echo "unknown run $run" >&2; exit 2 ;;
  esac
  out=runs/ablation/$run
  start=$(date +%s)
  if [ ! -f "$out/ckpt/epoch-0006/model.safetensors" ]; then
    resume=()
    [ -d "$out/ckpt" ] && resume=(--resume)
    target/release/mien-train train --data data --out "$out" --init-onnx "$v5" "${extra[@]}" \
      --extra-repeat 3 --epochs 6 --batch-size 64 --lr 0.004 --warmup-epochs 0.3 --threads 2 \
      --seed 21 --precision auto --class-weight-power 0.3 --light-p 0.5 --blur-p 0.25 \
      --noise-p 0.25 --jpeg-p 0.25 --lowres-p 0.25 --scale 0.15 --rotate-deg 15 \
      --name "mien-ablation-$run" "${resume[@]}"
  fi
  minutes=$(( ($(date +%s) - start) / 60 ))
  target/release/mien-train export --run "$out" --weights "$out/ckpt/epoch-0006/model.safetensors" \
    --out "$out/model.onnx" --val data/val --version 6 --mirror-average --trained-on "ablation $run"
  target/release/mien-train eval --model "$out/model.onnx" --data data/val --out "$out/fer-val" > "$out/fer-val.txt" 2>&1
  target/release/mien-analyse --model "$out/model.onnx" --score data/expw/val --report "$out/expw-val" > "$out/expw-val.txt" 2>&1
  target/release/mien-analyse --model "$out/model.onnx" --score data/sfew/val --report "$out/sfew-val" > "$out/sfew-val.txt" 2>&1
  pct() { jq -r "$1 * 10000 | round / 100" "$2"; }
  recall() { jq -r "[.per_class[] | select(.class == \"$1\") | .recall * 100 | round][0]" "$2"; }
  echo "| $run | $(pct .metrics.accuracy "$out/fer-val/metrics.json")% | $(pct .accuracy "$out/expw-val/score.json")% (disgust $(recall disgust "$out/expw-val/score.json"), fear $(recall fear "$out/expw-val/score.json")) | $(pct .accuracy "$out/sfew-val/score.json")% | ${minutes} min |" | tee -a runs/ablation/table.md
done
