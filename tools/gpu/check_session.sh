#!/usr/bin/env bash
# One GPU call that checks and times what runs 9-11 (docs/benchmark.md) left
# unverified, most important first, each step under its own time limit so
# that a slow step cannot take the others with it.
#
# Usage: bash tools/gpu/check_session.sh OUT_DIR   (about 9 minutes on an H100)
#   1. the fused scan's GPU tests with the sequence in one part and in two
#      (the scratch race of run 11 is fixed but was not re-run), and the
#      fused deformable sampling's GPU tests (never run on a GPU yet);
#   2. the GSM block at width 192 with both fused kernels (impl='auto')
#      against attention and the mamba-ssm route;
#   3. the batch-8 neck at T = 5 and 9 with SEQ_PARTS automatic.
# Each step writes its own file in OUT_DIR; read tests_*.txt first.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-work_dirs/gpu_check}
mkdir -p "$OUT"
bash tools/gpu/setup_gpu.sh --no-tests >"$OUT/setup.log" 2>&1 || {
  tail -5 "$OUT/setup.log"; exit 1; }
export PYTHONPATH=$PWD/.gpu/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
step() {  # step NAME SECONDS COMMAND...: run, keep the output, print its end
  local name=$1 limit=$2
  shift 2
  timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
  echo "== $name (exit $?)"
  tail -4 "$OUT/$name.txt"
}
TESTS=(tools/gpu/run_gpu_tests.py -q -k "not interpreter")
STMAMBA_SCAN_PARTS=1 step tests_parts1 200 python3 "${TESTS[@]}" \
  tests/test_ops/test_scan_triton.py tests/test_ops/test_deform_sample_triton.py
STMAMBA_SCAN_PARTS=2 step tests_parts2 120 python3 "${TESTS[@]}" \
  tests/test_ops/test_scan_triton.py
step block 120 python3 tools/benchmark.py --out "$OUT/block" \
  --sections block --block-widths 192 --stmm-impl auto
STMAMBA_SCAN_PARTS=auto step neck 120 python3 tools/benchmark.py \
  --out "$OUT/neck" --sections neck --neck-frames 5,9 --stmm-impl auto
