#!/usr/bin/env bash
# Issue 8's GPU measurements in three parts, each well inside a 10-minute command.
#
#   bash benchmarks/gpu_session.sh 1 OUTDIR   # environment, case a, stream, ops, the 224 px grid
#   bash benchmarks/gpu_session.sh 2 OUTDIR   # case b (a whole 30-epoch cell, ours and baseline),
#                                             # --per-gpu K on 10-epoch case-b cells
#   bash benchmarks/gpu_session.sh 3 OUTDIR   # the 32 px grid (eager, compile, CUDA graphs),
#                                             # precision against fp32
#
# Case c trains 10-epoch cells so that K = 1, 2, 4, 8 fit in one call: the ratio of cells per
# hour between K values is what it measures, and an epoch costs the same in a longer cell.
#
# Every part writes its JSON and a full log to OUTDIR (default ./gpu-results). The machine needs
# torch, torchvision, numpy, scipy and scikit-learn only: the benchmarks import no database code.
#
# Rehearsal on the CPU (the tests run parts 1 and 2 this way, then the study estimate on their
# files, so a lease is never spent finding a broken script): GPU_SESSION_DEVICE=cpu
# GPU_SESSION_TINY=1 bash benchmarks/gpu_session.sh 1 OUTDIR.
set -uo pipefail
part=${1:?part 1, 2 or 3}
out=${2:-gpu-results}
mkdir -p "$out"
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
device=${GPU_SESSION_DEVICE:-cuda}
bench=(python3 benchmarks/train_throughput.py --device "$device")
if [ -n "${GPU_SESSION_TINY:-}" ]; then
  bench+=(--tiny --threads 1)
fi
failed=0

# step NAME COMMAND...: run it, log to OUTDIR/NAME.log, and go on if it fails (a lease is too
# short to lose the rest of a part to one broken measurement).
step() {
  local name=$1
  shift
  echo "== $name: $*"
  if ! "$@" 2>&1 | tee "$out/$name.log"; then
    echo "== $name FAILED" | tee -a "$out/$name.log"
    failed=1
  fi
}

case $part in
1)
  if [ "$device" = cuda ]; then
    step gpu nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  fi
  step a "${bench[@]}" --cases a,stream,ops --json "$out/a.json"
  step grid_a "${bench[@]}" --grid --cases a --grid-compile eager --grid-batch 128 256 \
    --json "$out/grid_a.json"
  ;;
2)
  step b "${bench[@]}" --cases b --json "$out/b.json"
  step c "${bench[@]}" --cases c --per-gpu 1 2 4 8 --set b_epochs=10 --json "$out/c.json"
  ;;
3)
  step grid_b "${bench[@]}" --grid --cases b --grid-layouts nchw nhwc --grid-precisions bf16 \
    --grid-compile eager graphs reduce-overhead --grid-epochs 3 --json "$out/grid_b.json"
  step precision python3 benchmarks/precision_check.py --device "$device" \
    --json "$out/precision.json"
  ;;
*)
  echo "part must be 1, 2 or 3" >&2
  exit 2
  ;;
esac
exit $failed
