# mien: `make serve` to use the app, `make test` to check everything.
# Honours CARGO_TARGET_DIR when set (cargo and trunk read it from the environment).

SHELL := /bin/bash
# npm's binaryen (wasm-opt 132) must come before any system wasm-opt: Debian's
# binaryen 108 writes broken modules. cargo-installed trunk and wasm-bindgen next.
export PATH := $(CURDIR)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

ADDRESS ?= 127.0.0.1
PORT ?= 8080

.PHONY: setup-web build serve test test-native test-web

## Install what the web build and its tests need (only what is missing).
setup-web:
	scripts/setup-web.sh

## Build the web app into dist/ (release, no network).
build: setup-web
	trunk build --release --offline

## Build, then serve the app on http://$(ADDRESS):$(PORT), rebuilding on changes.
serve: setup-web
	@echo "mien: open http://$(ADDRESS):$(PORT) once the build below finishes"
	trunk serve --release --offline --address $(ADDRESS) --port $(PORT)

## Everything CI runs.
test: test-native test-web

test-native:
	cargo test

## Build, then load the app in headless Chromium and check it.
test-web: build
	node tests/browser/run.mjs
