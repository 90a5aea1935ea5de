#!/usr/bin/env bash
# Installs what building, serving and testing mien's web app needs, and only what is
# missing: from rustup, crates.io, npm and Debian, nothing else. Safe to run again.
#
#   wasm32-unknown-unknown  rustup target
#   trunk 0.21.14           cargo install (~8 CPU-minutes, once)
#   wasm-bindgen-cli        cargo install, at exactly Cargo.lock's wasm-bindgen version
#   node_modules/           npm ci (binaryen's wasm-opt, playwright-core, BlazeFace ONNX)
#   chromium                apt-get, for the browser tests (only if /usr/bin/chromium is missing)
set -euo pipefail

cd "$(dirname "$0")/.."
TRUNK_VERSION=0.21.14
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf 'setup-web: %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    say "installing $* (apt-get)"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# Rust's WebAssembly target.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi

# trunk (0.22 needs a newer rustc than this project pins).
if [ "$(trunk --version 2>/dev/null || true)" != "trunk $TRUNK_VERSION" ]; then
    say "installing trunk $TRUNK_VERSION"
    cargo install --locked trunk --version "$TRUNK_VERSION"
fi

# wasm-bindgen-cli must equal the wasm-bindgen crate in Cargo.lock. Without --locked:
# its own lock file names crate versions the registry mirror lacks.
BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if [ -z "$BINDGEN_VERSION" ]; then
    say "cannot find wasm-bindgen's version in Cargo.lock" >&2
    exit 1
fi
if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $BINDGEN_VERSION" ]; then
    say "installing wasm-bindgen-cli $BINDGEN_VERSION"
    cargo install wasm-bindgen-cli --version "$BINDGEN_VERSION"
fi

# Node tools. npm ci only when package-lock.json changed since the last install.
if ! command -v npm >/dev/null; then
    apt_install nodejs npm
fi
STAMP=node_modules/.mien-lock-sha256
LOCK_SHA=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$LOCK_SHA" ]; then
    say "installing node tools (npm ci)"
    npm ci --no-audit --no-fund
    echo "$LOCK_SHA" > "$STAMP"
fi

# Chromium for the browser tests (playwright-core drives it; never `playwright install`).
if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium chromium-driver
fi

say "ready: $(trunk --version), $(wasm-bindgen --version), wasm-opt $(node_modules/.bin/wasm-opt --version | cut -d' ' -f3)"
