#!/usr/bin/env bash
# Installs libtorch for the trainer (feature `train`), only if missing: the PyPI wheel
# torch==2.11.0 (the version tch 0.24 binds, and the one preinstalled on the lent GPU
# machines) into a virtual environment outside the checkout, so every clone on this
# machine shares the ~4.6 GB download. pip keeps no second copy in its cache
# (--no-cache-dir): disk, not bandwidth, is what runs short on CI. Safe to run again.
#
# Prints nothing else on success but its last line; `scripts/torch-env.sh` sets the
# variables that cargo and the trainer need to find it.
set -euo pipefail

TORCH_VERSION=2.11.0
VENV="${MIEN_VENV:-$HOME/.cache/mien/venv}"

say() { printf 'setup-torch: %s\n' "$*"; }

have_torch() {
    [ -x "$VENV/bin/python" ] &&
        "$VENV/bin/python" -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$TORCH_VERSION' else 1)" 2>/dev/null
}

if ! have_torch; then
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating the virtual environment $VENV"
        mkdir -p "$(dirname "$VENV")"
        python3 -m venv "$VENV"
    fi
    say "installing torch==$TORCH_VERSION from PyPI (about 4.6 GB with its CUDA libraries)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir "torch==$TORCH_VERSION"
    have_torch || { say "torch $TORCH_VERSION did not import after installing" >&2; exit 1; }
fi
say "ready: torch $TORCH_VERSION in $VENV"
