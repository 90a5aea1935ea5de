#!/usr/bin/env bash
# Trains the shipped model's recipe on a machine with an NVIDIA GPU and torch 2.11.0
# preinstalled (the lent H200 machine), in two steps:
#
#   scripts/train-gpu.sh prepare     # here: build the trainer, pack it and the data into gpu-run/
#   scripts/train-gpu.sh run         # there, in the repository root: unpack, train on CUDA,
#                                    # export; results under $OUT (default gpu-run/out)
#
# With the workplace's device tool: prepare here, then run `bash scripts/train-gpu.sh run`
# there with carry=["gpu-run"]. What travels stays under the tool's 64 MiB: the stripped
# trainer compressed with xz, the FER2013 tarball as published, the FER+ votes.
#
# The recipe is the shipped model's (docs/model-card.md), with more epochs and a larger
# batch since the GPU has time for them; EPOCHS, BATCH, LR and EXTRA override it.
# The run folder checkpoints every epoch, so a run cut short still brings back its best.
set -euo pipefail
cd "$(dirname "$0")/.."

PACK=gpu-run
EPOCHS=${EPOCHS:-60}
BATCH=${BATCH:-128}
LR=${LR:-0.1}
EXTRA=${EXTRA:-}
DEVICE=${DEVICE:-cuda}   # DEVICE=cpu EPOCHS=1 EXTRA="--limit 256" tries the script here

prepare() {
    scripts/setup-torch.sh
    # shellcheck source=/dev/null
    . scripts/torch-env.sh
    cargo build --release --features train --bin mien-train
    mkdir -p "$PACK"
    strip -o "$PACK/mien-train" target/release/mien-train
    xz -T0 -6 -f "$PACK/mien-train"
    cp ../shared/data/fer2013.tar.gz ../shared/data/ferplus_votes.csv "$PACK/"
    du -sh "$PACK"/*
    echo "train-gpu: ready; carry $PACK/ and run: bash scripts/train-gpu.sh run"
}

run() {
    OUT=${OUT:-$PACK/out}
    mkdir -p "$OUT" "$PACK/data"
    xz -dkf "$PACK/mien-train.xz"
    chmod +x "$PACK/mien-train"
    tar -xzf "$PACK/fer2013.tar.gz" -C "$PACK/data"
    # The machine's own torch: its lib/ holds libtorch and, through its wheels, CUDA.
    TORCH_LIB=$(${PYTHON:-python3} -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
    export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt" || true

    local bin="$PACK/mien-train" runs="$OUT/runs"
    # shellcheck disable=SC2086
    "$bin" train --data "$PACK/data" --out "$runs/fer-gpu" --device "$DEVICE" --threads "${THREADS:-8}" \
        --epochs "$EPOCHS" --batch-size "$BATCH" --lr "$LR" --seed 1 --name mien-fer-resnet $EXTRA \
        2>&1 | tee "$OUT/train.log" || echo "train-gpu: training stopped early; exporting its best epoch"
    "$bin" export --run "$runs/fer-gpu" --out "$OUT/mien.onnx" --val "$PACK/data/val" --version gpu-1 --mirror-average
    "$bin" eval --model "$OUT/mien.onnx" --data "$PACK/data/val" --out "$OUT/eval" --votes "$PACK/ferplus_votes.csv"
    "$bin" eval --model "$OUT/mien.onnx" --data "$PACK/data/val" --out "$OUT/eval-tta" --tta crops
    # Only what is small comes back: drop the per-epoch checkpoints, keep the best weights.
    rm -rf "$runs/fer-gpu/ckpt"
    du -sh "$OUT"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: scripts/train-gpu.sh prepare|run" >&2; exit 2 ;;
esac
