# Source this to build and run the trainer against the venv's libtorch:
#   . scripts/torch-env.sh
# (the Makefile sets the same variables for its targets).
MIEN_VENV="${MIEN_VENV:-$HOME/.cache/mien/venv}"
MIEN_TORCH_LIB="$("$MIEN_VENV/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LIBTORCH_USE_PYTORCH=1
export PATH="$MIEN_VENV/bin:$PATH"
export LD_LIBRARY_PATH="$MIEN_TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# libtorch's OpenMP threads spin while waiting: under contention that collapses
# throughput. Passive waiting costs nothing measurable when the cores are free.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
