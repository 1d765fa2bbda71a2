#!/usr/bin/env bash
# Issue 8's GPU measurements: one call for a short lease (q), or three parts for a long one.
#
#   bash benchmarks/gpu_session.sh q OUTDIR   # everything the issue's table needs, in one call of
#                                             # under 10 minutes (a lease of 15 device minutes,
#                                             # start included): each step has a time cap, the
#                                             # most needed first, so a slow one can't take the
#                                             # rest; the baseline's 32 px cell is extrapolated
#                                             # from 4 of its 30 epochs
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
part=${1:?part q, 1, 2 or 3}
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
cap=0  # seconds a step may take (0: no cap); part q sets it per step

# step NAME COMMAND...: run it, log to OUTDIR/NAME.log, and go on if it fails or passes its cap
# (a lease is too short to lose the rest of a part to one broken or slow measurement).
step() {
  local name=$1
  shift
  echo "== $name: $*"
  local run=("$@")
  if [ "$cap" -gt 0 ]; then
    run=(timeout -s INT -k 10 "$cap" "$@")
  fi
  "${run[@]}" 2>&1 | tee "$out/$name.log"
  local rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ]; then
    [ "$rc" -eq 124 ] && echo "== $name passed its cap of $cap s" | tee -a "$out/$name.log"
    echo "== $name FAILED (exit $rc)" | tee -a "$out/$name.log"
    failed=1
  fi
}

# On the GPU, case b also runs under the trainer's CUDA graphs; the CPU has none.
b_variants=(eager)
precision=(--seeds 3 --epochs 8)
if [ "$device" = cuda ]; then
  b_variants=(eager graphs)
fi
if [ -n "${GPU_SESSION_TINY:-}" ]; then
  precision=(--seeds 2 --epochs 1 --threads 1)
fi

case $part in
q)
  if [ "$device" = cuda ]; then
    cap=20 step gpu nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm \
      --format=csv
  fi
  cap=110 step a "${bench[@]}" --cases a,stream,ops --json "$out/a.json"
  cap=240 step b "${bench[@]}" --cases b --b-variants "${b_variants[@]}" \
    --set baseline_epochs=4 --json "$out/b.json"
  cap=100 step c "${bench[@]}" --cases c --per-gpu 1 2 4 8 --set b_epochs=3 \
    --json "$out/c.json"
  cap=50 step precision python3 benchmarks/precision_check.py --device "$device" \
    "${precision[@]}" --json "$out/precision.json"
  cap=50 step grid "${bench[@]}" --grid --cases a,b --grid-layouts nchw nhwc \
    --grid-compile eager --grid-epochs 2 --json "$out/grid.json"
  ;;
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
  echo "part must be q, 1, 2 or 3" >&2
  exit 2
  ;;
esac
exit $failed
