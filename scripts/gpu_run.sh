#!/usr/bin/env bash
# The whole GPU side of training in one call, from the project's root on the GPU machine:
#   scripts/gpu_run.sh            # trains, measures, and leaves summary.json, train.log and
#                                 # the weights in parts in $OUT
#   scripts/gpu_run.sh --dry-run  # the same on a CPU, on a few thousand images, in minutes
#   scripts/gpu_run.sh --job multimnist [--dry-run]  # the two-digit models (MultiMNIST) instead,
#                                 # by scripts/gpu_multimnist.py
# It installs the Keras wheels carried in .whl/ where Keras is missing (the GPU machine has JAX
# but no Keras and no registry), picks JAX where it is installed, else TensorFlow, and runs
# scripts/gpu_train.py (or scripts/gpu_multimnist.py). `scripts/gpu_land.py` takes the parts on
# the other side.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import keras" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target .site .whl/*.whl
  export PYTHONPATH="$PWD/.site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ -z "${KERAS_BACKEND:-}" ]; then
  if python3 -c "import jax" 2>/dev/null; then KERAS_BACKEND=jax; else KERAS_BACKEND=tensorflow; fi
fi
export KERAS_BACKEND PYTHONUNBUFFERED=1
script=scripts/gpu_train.py
if [ "${1:-}" = "--job" ]; then
  case "${2:-}" in
    mnist) ;;
    multimnist) script=scripts/gpu_multimnist.py ;;
    *) echo "unknown job '${2:-}': mnist or multimnist" >&2; exit 2 ;;
  esac
  shift 2
fi
out="${OUT:-runs/gpu}"
mkdir -p "$out"
python3 "$script" --out "$out" "$@" 2>&1 | tee "$out/train.log"
