# mien: `make serve` to use the app, `make test` to check everything.
# Honours CARGO_TARGET_DIR when set (cargo and trunk read it from the environment).

SHELL := /bin/bash
# npm's binaryen (wasm-opt 132) must come before any system wasm-opt: Debian's
# binaryen 108 writes broken modules. cargo-installed trunk and wasm-bindgen next.
export PATH := $(CURDIR)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

ADDRESS ?= 127.0.0.1
PORT ?= 8080

.PHONY: setup-web setup-torch build serve test test-core test-native test-web trainer

## Install what the web build and its tests need (only what is missing).
setup-web:
	scripts/setup-web.sh

## Install libtorch (PyPI torch 2.11.0) for the trainer, into ~/.cache/mien/venv.
setup-torch:
	scripts/setup-torch.sh

## Build the web app into dist/ (release, no network).
build: setup-web
	trunk build --release --offline

## Build, then serve the app on http://$(ADDRESS):$(PORT), rebuilding on changes.
serve: setup-web
	@echo "mien: open http://$(ADDRESS):$(PORT) once the build below finishes"
	trunk serve --release --offline --address $(ADDRESS) --port $(PORT)

## Everything CI runs.
test: test-native test-web

## The shared core, face finding and the shipped model: no libtorch needed.
test-core: setup-web
	cargo test

## All native tests, the trainer's included (installs libtorch if missing).
test-native: setup-web setup-torch
	. scripts/torch-env.sh && cargo test --features train

## The trainer binary (release): target/release/mien-train. See the README's "Training".
trainer: setup-torch
	. scripts/torch-env.sh && cargo build --release --features train --bin mien-train

## Build, then load the app in headless Chromium and check it.
test-web: build
	node tests/browser/run.mjs
