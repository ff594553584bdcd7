#!/usr/bin/env bash
# Check and time the GPU paths (docs/benchmark.md, runs 12-16), most
# important first, each step under its own time limit so that a slow step
# cannot take the others with it.  A device call is limited to 10 minutes:
# run the default steps in one call and `sweep` in another.
#
# Usage: bash tools/gpu/check_session.sh OUT_DIR [STEP ...]
#   tests   the fused scan's GPU tests with the sequence in one part and in
#           two, the fused deformable sampling's, the channels-last
#           depthwise convolution's GPU tests               (~3 min)
#   block   the GSM block at width 192 with both fused kernels
#           (impl='auto') against attention and the mamba-ssm route (~2 min)
#   neck    the batch-8 neck at T = 5 and 9, SEQ_PARTS automatic (~2 min)
#   sweep   the untimed PREFETCH launch variants of the fused scan against
#           the defaults, Dm 512 and 192                      (~4 min)
#   dwconv  the depthwise convolution's launch settings against PyTorch's
#           Conv3d (tools/gpu/time_dwconv.py)                 (~1 min)
#   overhead host vs device time of small neck calls (profile_overhead.py):
#           5x32x24 batch 8 fwd+bwd, then inference at batch 1, 5x64x48,
#           and batch 8, 5x32x24, each plain and as CUDA-graph replays
#           (expect no host waits since the embedding cache)  (~2 min)
#   ncu     Nsight Compute over one fused scan forward+backward (B 32,
#           Dm 192): stall reasons, occupancy, and the per-instruction
#           stall samples of the SASS (ncu_source.txt, CSV) (~2 min)
# SWEEP_DMS, SWEEP_FWD, SWEEP_BWD override the sweep's channels and configs
# (JSON lists); the steps after a sweep run with its best configs.
# Default steps: tests block neck.  Each step writes OUT_DIR/STEP.txt (and
# the benchmark's results.json below OUT_DIR/STEP/); read tests*.txt first.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-work_dirs/gpu_check}
shift || true
STEPS=("$@")
[[ ${#STEPS[@]} -gt 0 ]] || STEPS=(tests block neck)
mkdir -p "$OUT"
bash tools/gpu/setup_gpu.sh --no-tests >"$OUT/setup.log" 2>&1 || {
  tail -5 "$OUT/setup.log"; exit 1; }
export PYTHONPATH=$PWD/.gpu/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
run() {  # run NAME SECONDS COMMAND...: keep the output, print its end
  local name=$1 limit=$2
  shift 2
  timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
  echo "== $name (exit $?)"
  tail -4 "$OUT/$name.txt"
}
TESTS=(tools/gpu/run_gpu_tests.py -q -k "not interpreter")
FWD='[{"BLOCK_D":32,"CHUNK":4,"num_warps":1},
 {"BLOCK_D":32,"CHUNK":2,"num_warps":1,"PREFETCH":true},
 {"BLOCK_D":32,"CHUNK":2,"num_warps":1,"PREFETCH":true,"maxnreg":168},
 {"BLOCK_D":16,"CHUNK":2,"num_warps":1,"PREFETCH":true}]'
BWD='[{"BLOCK_D":32,"CHUNK":2,"SEG":32,"num_warps":1,"maxnreg":168},
 {"BLOCK_D":32,"CHUNK":1,"SEG":64,"num_warps":1,"maxnreg":168,"PREFETCH":true},
 {"BLOCK_D":32,"CHUNK":2,"SEG":32,"num_warps":1,"maxnreg":168,"PREFETCH":true}]'
for step in "${STEPS[@]}"; do
  case $step in
    tests)
      STMAMBA_SCAN_PARTS=1 run tests_parts1 200 python3 "${TESTS[@]}" \
        tests/test_ops/test_scan_triton.py \
        tests/test_ops/test_deform_sample_triton.py \
        tests/test_ops/test_dwconv_triton.py
      STMAMBA_SCAN_PARTS=2 run tests_parts2 120 python3 "${TESTS[@]}" \
        tests/test_ops/test_scan_triton.py ;;
    block)
      run block 120 python3 tools/benchmark.py --out "$OUT/block" \
        --sections block --block-widths 192 --stmm-impl auto ;;
    neck)
      STMAMBA_SCAN_PARTS=auto run neck 120 python3 tools/benchmark.py \
        --out "$OUT/neck" --sections neck --neck-frames 5,9 \
        --stmm-impl auto ;;
    sweep)
      run sweep 280 python3 tools/gpu/sweep_seq.py --dms "${SWEEP_DMS:-512,192}" \
        --fwd "${SWEEP_FWD:-$FWD}" --bwd "${SWEEP_BWD:-$BWD}" \
        --best-out "$OUT/best.json"
      # the steps after this one run with the best launch configs
      [[ -s $OUT/best.json ]] && export STMAMBA_SCAN_LAUNCH=$(cat "$OUT/best.json") ;;
    dwconv)
      run dwconv 120 python3 tools/gpu/time_dwconv.py ;;
    overhead)
      OVH=(python3 tools/gpu/profile_overhead.py)
      run overhead_t5_b8 60 "${OVH[@]}" --grid 5,32,24 --batch 8
      for shape in "5,64,48 1" "5,32,24 8"; do
        set -- $shape
        run "overhead_inf_b$2" 60 "${OVH[@]}" --grid "$1" --batch "$2" \
          --no-grad
        run "overhead_inf_b$2_graph" 90 "${OVH[@]}" --grid "$1" \
          --batch "$2" --no-grad --cuda-graph
      done ;;
    ncu)
      run ncu 150 ncu --clock-control none --profile-from-start off \
        -k regex:_seq_ --section SpeedOfLight --section WarpStateStats \
        --section SchedulerStats --section Occupancy --section LaunchStats \
        --section SourceCounters --export /tmp/ncu_scan --force-overwrite \
        python3 tools/gpu/profile_scan.py --batch 32 --dm 192
      run ncu_source 60 ncu --import /tmp/ncu_scan.ncu-rep --page source \
        --print-source sass --csv
      [[ -s $OUT/ncu_source.txt ]] || ncu --help >"$OUT/ncu_help.txt" ;;
    *) echo "unknown step $step (tests, block, neck, sweep, dwconv, ncu)"; exit 2 ;;
  esac
done
