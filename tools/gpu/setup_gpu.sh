#!/usr/bin/env bash
# Install the `cuda` extra (mamba-ssm) on a GPU machine, then run the GPU tests.
#
# Usage: tools/gpu/setup_gpu.sh [--no-tests] [pytest args...]
#   WHEELS  folder with wheels to bring (default .gpu/wheels): a mamba_ssm-*.whl
#           built for this torch and card is installed as is; otherwise a
#           mamba_ssm-*.tar.gz source package there (or from the registry) is
#           built for this card's architecture only.  Any other *.whl there
#           (mmengine, mmcv-lite, mmpose, ...: what the blocks import) is added
#           with --no-deps when the module is not importable yet.
#   TARGET  install folder, put on PYTHONPATH (default .gpu/site).
# Prints the PYTHONPATH to export.  Reasons (docs/benchmark.md): GPU machines
# here start bare, cannot reach a registry, and have no mm* packages; mamba-ssm
# has only a source package, whose setup.py would compile for five
# architectures and tries to download a wheel first (MAMBA_FORCE_BUILD skips
# that; --no-build-isolation so it builds against the installed torch).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
WHEELS=${WHEELS:-$ROOT/.gpu/wheels}
TARGET=${TARGET:-$ROOT/.gpu/site}
PY=${PYTHON:-python3}
RUN_TESTS=1
if [[ ${1:-} == --no-tests ]]; then RUN_TESTS=0; shift; fi
PIP=("$PY" -m pip install --quiet --disable-pip-version-check --no-deps
     --no-index --target "$TARGET")
log() { printf '[setup_gpu %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
mkdir -p "$TARGET"
export PYTHONPATH=$TARGET:$ROOT${PYTHONPATH:+:$PYTHONPATH}

"$PY" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"'
ARCH=$("$PY" -c 'import torch; print("%d%d" % torch.cuda.get_device_capability())')
log "$("$PY" -c 'import torch, triton; print(torch.cuda.get_device_name(), "torch", torch.__version__, "triton", triton.__version__)') sm_$ARCH"

if ! "$PY" -c 'import selective_scan_cuda' 2>/dev/null; then
  WHL=$(ls "$WHEELS"/mamba_ssm-*.whl 2>/dev/null | head -1 || true)
  if [[ -n $WHL ]]; then
    log "mamba-ssm from $WHL"
    "${PIP[@]}" "$WHL"
  else
    SDIST=$(ls "$WHEELS"/mamba_ssm-*.tar.gz 2>/dev/null | head -1 || true)
    BUILD=$(mktemp -d)
    if [[ -z $SDIST ]]; then
      "$PY" -m pip download --no-deps --no-binary :all: -d "$BUILD" \
        mamba-ssm==2.3.2.post1
      SDIST=$(ls "$BUILD"/mamba_ssm-*.tar.gz | head -1)
    fi
    log "building mamba-ssm from $SDIST for sm_$ARCH only"
    tar -xzf "$SDIST" -C "$BUILD"
    SRC=$(ls -d "$BUILD"/mamba_ssm-*/ | head -1)
    # Every -gencode entry becomes this card's: one architecture, not five.
    sed -i -E "s/arch=compute_[0-9]+a?,code=sm_[0-9]+a?/arch=compute_$ARCH,code=sm_$ARCH/" \
      "$SRC/setup.py"
    MAMBA_FORCE_BUILD=TRUE MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "$PY" -m pip install --quiet --no-build-isolation --no-deps \
      --target "$TARGET" "$SRC"
  fi
fi
"$PY" -c 'from mamba_ssm.ops.selective_scan_interface import selective_scan_fn'

for whl in "$WHEELS"/*.whl; do
  [[ -e $whl ]] || continue
  name=$(basename "$whl" | cut -d- -f1)
  [[ $name == mamba_ssm ]] && continue
  mod=${name%_lite}  # mmcv_lite installs the module mmcv
  if ! "$PY" -c "import $mod" 2>/dev/null; then
    log "adding $(basename "$whl")"
    "${PIP[@]}" "$whl"
  fi
done
log "export PYTHONPATH=$PYTHONPATH"
if (( RUN_TESTS )); then
  "$PY" tools/gpu/run_gpu_tests.py "$@"
fi
