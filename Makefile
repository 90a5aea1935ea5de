# mien: `make serve` to use the app, `make test` to check everything.
# Honours CARGO_TARGET_DIR when set (cargo and trunk read it from the environment).

SHELL := /bin/bash
# npm's binaryen (wasm-opt 132) must come before any system wasm-opt: Debian's
# binaryen 108 writes broken modules. cargo-installed trunk and wasm-bindgen next.
export PATH := $(CURDIR)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

ADDRESS ?= 127.0.0.1
PORT ?= 8080

.PHONY: setup-web setup-torch build serve test test-core test-native test-web test-load trainer fmt-check clippy clippy-web

## Install what the web build and its tests need (only what is missing).
setup-web:
	@scripts/phase.sh setup-web
	scripts/setup-web.sh

## Install libtorch (PyPI torch 2.11.0) for the trainer, into ~/.cache/mien/venv.
setup-torch:
	@scripts/phase.sh setup-torch
	scripts/setup-torch.sh

## Build the web app into dist/ (release, no network).
build: setup-web
	@scripts/phase.sh build
	trunk build --release --offline

## Build, then serve the app on http://$(ADDRESS):$(PORT), rebuilding on changes.
serve: setup-web
	@echo "mien: open http://$(ADDRESS):$(PORT) once the build below finishes"
	trunk serve --release --offline --address $(ADDRESS) --port $(PORT)

## Everything CI runs.
test: fmt-check clippy clippy-web test-native test-web

## The code is formatted as `cargo fmt` leaves it (both crates), so a diff shows only
## what changed. Seconds; `cargo fmt --all && (cd gpu-worker && cargo fmt)` fixes it.
fmt-check:
	@scripts/phase.sh fmt-check
	@cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	cargo fmt --all --check
	cd gpu-worker && cargo fmt --check

## Lints, warnings as errors, over the native code: the shared core, the trainer,
## mien-analyse, the tests and the benchmarks' helper (with the trainer's features).
clippy: setup-torch
	@scripts/phase.sh clippy
	@cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
	. scripts/torch-env.sh && cargo clippy --all-targets --features train -- -D warnings

## The same for the browser-only code (the app's UI and both workers), for wasm32: 8.4
## minutes from nothing on 2 cores (it checks the wasm dependencies again), seconds after.
clippy-web: setup-web
	@scripts/phase.sh clippy-web
	@cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
	cargo clippy --target wasm32-unknown-unknown --bin mien --bin cpu-worker -- -D warnings
	cd gpu-worker && cargo clippy --target wasm32-unknown-unknown -- -D warnings

## The shared core, face finding and the shipped model: no libtorch needed.
test-core: setup-web
	cargo test

## All native tests, the trainer's and the WebGPU worker's included (installs libtorch
## if missing; the worker's checks of model files run natively, without a GPU).
test-native: setup-web setup-torch
	@scripts/phase.sh test-native
	. scripts/torch-env.sh && cargo test --features train
	cd gpu-worker && cargo test

## The trainer binary (release): target/release/mien-train. See the README's "Training".
trainer: setup-torch
	. scripts/torch-env.sh && cargo build --release --features train --bin mien-train

## Build, then load the app in headless Chromium and check it.
test-web: build
	@scripts/phase.sh test-web
	node tests/browser/run.mjs

## Not in `test` (about ten minutes): 300 photos and bad files, five times (the CPU worker
## crashing in the last), memory after each, then the webcam view for 3 minutes.
test-load: build
	node tests/browser/load.mjs

# ===========================================================================
# Benchmarks: see the README's "Benchmarks". Each one prints a table and writes
# JSON under results/ (gitignored). No timing is ever tested: `bench-smoke` (run
# by `make test`) only checks that every benchmark starts and finishes, with
# BENCH_QUICK=1: a few runs each, a dev build of the trainer; its numbers mean nothing.
# ===========================================================================
.PHONY: bench bench-assets bench-data bench-trainer bench-browser bench-coldstart bench-webcam bench-train bench-eval bench-smoke

export BENCH_QUICK
BENCH_THREADS ?= 2
bench_quick = $(filter-out 0,$(BENCH_QUICK))
bench_sfx = $(if $(bench_quick),-quick)
BENCH_TRAINER = $(or $(CARGO_TARGET_DIR),target)/$(if $(bench_quick),debug,release)/mien-train

## All five benchmarks in full (tens of minutes on 2 cores).
bench: bench-browser bench-coldstart bench-webcam bench-train bench-eval

## The benchmarks' helper (bench/assets.rs): prepared BlazeFace files, a one-node
## MatMul model and MAC counts in target/bench/models; the sample photo on demand.
bench-assets:
	@scripts/phase.sh bench-assets
	cargo build --quiet --example bench-assets
	mkdir -p target/bench && cp $(or $(CARGO_TARGET_DIR),target)/debug/examples/bench-assets target/bench/
	target/bench/bench-assets models target/bench/models

## FER2013 in data/ (gitignored) for bench-eval.
bench-data:
	@[ -d data/val ] || { echo "bench-data: unpacking ../shared/data/fer2013.tar.gz into data/"; mkdir -p data && tar -xzf ../shared/data/fer2013.tar.gz -C data; }

bench-trainer: setup-torch
	@scripts/phase.sh bench-trainer
	. scripts/torch-env.sh && cargo build $(if $(bench_quick),,--release) --features train --bin mien-train

## In-browser inference per backend: mien's workers vs onnxruntime-web, same files.
bench-browser: build bench-assets
	@scripts/phase.sh bench-browser
	node bench/browser.mjs

## Navigation to the first result on a sample photo, and the bytes fetched: mien vs face-api.js.
bench-coldstart: build bench-assets
	@scripts/phase.sh bench-coldstart
	node bench/coldstart.mjs

## The webcam view's analysed frames/s and page responsiveness, per engine, 1 and 3 faces.
bench-webcam: build bench-assets
	@scripts/phase.sh bench-webcam
	node bench/webcam.mjs

## Trainer images/s vs the CPU's peak and vs PyTorch on the identical network.
bench-train: bench-trainer
	@scripts/phase.sh bench-train
	. scripts/torch-env.sh && $(BENCH_TRAINER) bench --archs fer --threads $(BENCH_THREADS) \
	    $(if $(bench_quick),--steps 1 --batch-size 8 --matmul-size 256,--steps 30) \
	    --json results/bench-train-mien$(bench_sfx).json \
	  && python bench/train_torch.py results/bench-train-mien$(bench_sfx).json results/bench-train$(bench_sfx).json

## Native eval faces/s of the shipped model (mien-train eval on data/val).
bench-eval: bench-trainer bench-data bench-assets
	@scripts/phase.sh bench-eval
	. scripts/torch-env.sh && BENCH_TRAINER=$(BENCH_TRAINER) BENCH_THREADS=$(BENCH_THREADS) node bench/eval.mjs

## Every benchmark once, tiny (part of `make test`).
bench-smoke: BENCH_QUICK = 1
bench-smoke: bench-browser bench-coldstart bench-webcam bench-train bench-eval

test: bench-smoke
