#!/usr/bin/env bash
# `scripts/phase.sh NAME`: marks the start of a step of `make test` (or of .ci/run's own
# steps). It prints the step and the time since the run began, and, when MIEN_PHASES names
# a file (.ci/run sets it), appends "NAME START_SECONDS" there so that .ci/run can print
# how long each step took at the end, whether the run passed or failed.
set -euo pipefail
now=$(date +%s)
start=${MIEN_T0:-$now}
printf '== %s (at +%dm%02ds)\n' "$1" $(((now - start) / 60)) $(((now - start) % 60))
if [ -n "${MIEN_PHASES:-}" ]; then
    echo "$1 $now" >> "$MIEN_PHASES"
fi
