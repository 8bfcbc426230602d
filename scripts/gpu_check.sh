#!/usr/bin/env bash
# The GPU path in one prepared run, from a fresh copy of the tree (docs/benchmarks.md, "GPU"):
# install what is missing, build shoal, then scripts/gpu_check.py's steps (CUDA advantage
# parity and bandwidth, PPO training throughput, torchrun with NCCL, a Breakout curve), all
# written under $OUT. Under 8 minutes on one H100/H200:
#
#   OUT=/tmp/gpu scripts/gpu_check.sh                   # on the GPU machine
#   SHOAL_GPU_DRY_RUN=1 OUT=/tmp/dry scripts/gpu_check.sh   # on a CPU: every step but CUDA's
#
# torch: the one the machine has (the device image's python3 holds a CUDA build); nothing is
# downloaded. gymnasium, if missing, comes from wheels carried in .whl/ (see docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder for the results}
PY=${PYTHON:-python3}
MINUTES=${SHOAL_GPU_CURVE_MINUTES:-2}
mkdir -p "$OUT"
start=$(date +%s)

if [ "${SHOAL_GPU_DRY_RUN:-0}" = 1 ]; then
    echo "== dry run: the installed shoal, on the CPU"
    "$PY" -c "import shoal, torch; print('shoal', shoal.__file__, 'torch', torch.__version__)"
else
    echo "== 1. what it needs"
    "$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name())"
    if ! "$PY" -c "import gymnasium" 2>/dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/shoal-deps .whl/*.whl
        export PYTHONPATH=/tmp/shoal-deps${PYTHONPATH:+:$PYTHONPATH}
    fi
    echo "== 2. build shoal (both steps in parallel over every core)"
    "$PY" -m pip install -q --no-deps --no-build-isolation --target /tmp/shoal-site . 2>&1 | tail -3
    export PYTHONPATH=/tmp/shoal-site${PYTHONPATH:+:$PYTHONPATH}
    echo "   built in $(( $(date +%s) - start )) s"
fi

echo "== 3-7. parity, bandwidth, training throughput, NCCL, the curve"
PYTHONUNBUFFERED=1 "$PY" scripts/gpu_check.py --out "$OUT" --minutes-left "$MINUTES" 2>&1 | tee "$OUT/log.txt"
status=${PIPESTATUS[0]}
echo "== done in $(( $(date +%s) - start )) s; results in $OUT/results.json"
exit "$status"
