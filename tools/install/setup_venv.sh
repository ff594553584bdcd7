#!/usr/bin/env bash
# Create (or reuse) the project virtual environment at .venv/ and install the pinned stack.
#
# Idempotent: a stamp file records a hash of the install inputs; when nothing changed the
# script returns in well under a second.  Every pip call uses requirements/constraints.txt.
#
# mmcv: mmdet 3.3 and mmpose 1.3 both import only with mmcv 2.1.x, which exists only as a
# source package and needs its compile flag raised to C++20 for torch 2.14 headers.  We use a
# prebuilt wheel when one is on $PIP_FIND_LINKS or in ../shared/wheels (development/CI cache),
# otherwise build it here once (about 13 min on 2 cores) into .wheelhouse/ and reuse it.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VENV=$ROOT/.venv
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
CONS=$ROOT/requirements/constraints.txt
STAMP=$VENV/.mmpose_stmamba_installed
HASH=$(cat "$CONS" requirements/runtime.txt setup.cfg pyproject.toml tools/install/setup_venv.sh | sha256sum | cut -d' ' -f1)

if [[ -f $STAMP && "$(cat "$STAMP")" == "$HASH" ]]; then
  exit 0
fi

log() { printf '\n[setup_venv %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
START=$(date +%s)
[[ -x $VENV/bin/python ]] || { log "creating $VENV with $PY"; "$PY" -m venv "$VENV"; }
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -c "$CONS")

log "pip, wheel, setuptools"
"${PIP[@]}" -U pip wheel "setuptools>=77,<81"
log "torch, torchvision (CPU machines run the same build on the CPU)"
"${PIP[@]}" torch torchvision
log "numpy, cython, mmengine, mmdet, openmim, pytest"
"${PIP[@]}" numpy cython mmengine mmdet openmim pytest tqdm matplotlib flake8 isort

# ---- mmcv 2.1.0 with CPU ops --------------------------------------------------------------
if ! "$VENV/bin/python" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' 2>/dev/null; then
  WHEELHOUSE=$ROOT/.wheelhouse
  mkdir -p "$WHEELHOUSE"
  TAG=$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
  WHL=""
  for d in ${PIP_FIND_LINKS:-} "$ROOT/../shared/wheels" "$WHEELHOUSE"; do
    c=$(ls "$d"/mmcv-2.1.0-"$TAG"-"$TAG"-linux_*.whl 2>/dev/null | head -1 || true)
    if [[ -n $c ]]; then WHL=$c; break; fi
  done
  if [[ -z $WHL ]]; then
    log "no prebuilt mmcv 2.1.0 wheel for $TAG: building from the source package (slow, once)"
    BUILD=$(mktemp -d)
    "$VENV/bin/python" -m pip download --no-deps --no-build-isolation --no-binary :all: "mmcv==2.1.0" -d "$BUILD"
    tar -xzf "$BUILD"/mmcv-2.1.0.tar.gz -C "$BUILD"
    sed -i 's/-std=c++17/-std=c++20/g' "$BUILD"/mmcv-2.1.0/setup.py
    "${PIP[@]}" ninja psutil
    (cd "$BUILD" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "$VENV/bin/python" -m pip wheel --no-build-isolation --no-deps ./mmcv-2.1.0 -w "$WHEELHOUSE")
    WHL=$(ls "$WHEELHOUSE"/mmcv-2.1.0-"$TAG"-*.whl | head -1)
    rm -rf "$BUILD"
  fi
  log "mmcv from $WHL"
  "${PIP[@]}" "$WHL"
fi

log "xtcocotools rebuilt against numpy 2; chumpy (only so mmpose's requirements resolve)"
"${PIP[@]}" --no-build-isolation --no-binary xtcocotools xtcocotools
"${PIP[@]}" --no-build-isolation chumpy
log "mmpose, mmpretrain, and this package (editable)"
"${PIP[@]}" mmpose mmpretrain
"${PIP[@]}" --no-build-isolation -e "$ROOT"
"$VENV/bin/python" -m pip check
"$VENV/bin/python" -c 'import mmpose_stmamba, mmpose, mmdet, mmcv, mmcv.ops, mmengine, xtcocotools, torch, torchvision, mmpretrain, mmpose.models, mmdet.apis'
echo "$HASH" > "$STAMP"
log "environment ready in $(( $(date +%s) - START )) s"
