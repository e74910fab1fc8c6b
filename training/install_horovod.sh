#!/usr/bin/env bash
# Build and install Horovod 0.28.1 for the TensorFlow already installed in PYTHON's environment.
#
#   bash training/install_horovod.sh [PYTHON]
#
# Why a script: 0.28.1 (the last release, sdist only) does not build against TF >= 2.16 as is.
# Its setup imports TensorFlow (so no build isolation) and horovod/tensorflow/CMakeLists.txt
# compiles xla_mpi_ops.cc unconditionally, which includes XLA headers recent TF wheels no longer
# ship. Deleting that one line is enough; the XLA custom-call ops are optional at run time
# (see ../shared/notes/horovod-tensorflow.md).
#
# Idempotent and cached: nothing happens when `import horovod.tensorflow` already works against
# the installed TF; otherwise a wheel cached under ${XDG_CACHE_HOME:-~/.cache}/rejoinder/wheels,
# keyed by Horovod version, TF version, Python tag and controller/GPU flags, is reused, so a fresh
# clone on the same machine pays the ~8 minute build once.
#
# Environment knobs:
#   HOROVOD_GPU_OPERATIONS     set to NCCL to force a GPU build (e.g. in an image build with no GPU
#                              attached); by default NCCL is used only when nvcc, NCCL headers and
#                              a GPU are all present -- a CUDA toolkit on a CPU-only machine would
#                              only make a slow build that nothing here can run.
#   REJOINDER_HOROVOD_FORCE=1  rebuild even if the cache or the installed package looks fine.
#   REJOINDER_HOROVOD_WHEEL_DIR=DIR  only build (or take from the cache) the wheel and copy it to
#                              DIR, installing nothing (images/wheelhouse.sh).
set -euo pipefail

PYTHON=${1:-python3}
# The version and the sdist's hashes come from uv.lock ("horovod==V --hash=... ...").
PIN=$(PYTHONSAFEPATH=1 "$PYTHON" "$(dirname "$0")/../.ci/lock.py" pin horovod)
HVD_VERSION=${PIN%% *}
HVD_VERSION=${HVD_VERSION#horovod==}
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/rejoinder/wheels"
log() { echo "[install_horovod] $*" >&2; }
# TensorFlow start-up chatter (oneDNN, CUDA probing) would bury this script's own messages.
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3}

PROBE_ERR=$(mktemp)
PY_INFO=$("$PYTHON" - 2>"$PROBE_ERR" <<'EOF'
import sys
import tensorflow as tf
print(tf.__version__, f"cp{sys.version_info.major}{sys.version_info.minor}")
EOF
) || { cat "$PROBE_ERR" >&2; rm -f "$PROBE_ERR"; log "cannot import tensorflow with $PYTHON; install TensorFlow first"; exit 1; }
rm -f "$PROBE_ERR"
TF_VERSION=${PY_INFO% *}
PY_TAG=${PY_INFO#* }

# 1. Already usable for this TF? Importing horovod.tensorflow loads the compiled op library,
#    which fails if it was built against another TF ABI.
if [ "${REJOINDER_HOROVOD_FORCE:-0}" != 1 ] && [ -z "${REJOINDER_HOROVOD_WHEEL_DIR:-}" ] && "$PYTHON" - "$HVD_VERSION" >/dev/null 2>&1 <<'EOF'
import sys
import horovod
import horovod.tensorflow as hvd
assert horovod.__version__ == sys.argv[1]
hvd.init()
EOF
then
  log "horovod $HVD_VERSION already works with TensorFlow $TF_VERSION; nothing to do"
  exit 0
fi

# 2. Decide the build flags (they are part of the cache key).
export HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 HOROVOD_WITH_GLOO=1
FLAGS=gloo
if command -v mpicxx >/dev/null 2>&1; then
  export HOROVOD_WITH_MPI=1
  FLAGS="$FLAGS-mpi"
else
  export HOROVOD_WITHOUT_MPI=1
  log "mpicxx not found: building without MPI (run .ci/system-deps.sh as root to get OpenMPI)"
fi

find_nccl_home() {
  # NCCL from the nvidia-nccl wheel TensorFlow[and-cuda] pulls in, else a system install.
  "$PYTHON" - <<'EOF' 2>/dev/null || true
import os, nvidia.nccl as m
root = list(m.__path__)[0]
if os.path.exists(os.path.join(root, "include", "nccl.h")):
    print(root)
EOF
}
if [ -z "${HOROVOD_GPU_OPERATIONS:-}" ] && command -v nvcc >/dev/null 2>&1 \
   && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  export HOROVOD_GPU_OPERATIONS=NCCL
fi
if [ "${HOROVOD_GPU_OPERATIONS:-}" = NCCL ]; then
  if [ -z "${HOROVOD_NCCL_HOME:-}" ] && [ ! -f /usr/include/nccl.h ]; then
    NCCL_HOME_FOUND=$(find_nccl_home)
    if [ -n "$NCCL_HOME_FOUND" ]; then
      export HOROVOD_NCCL_HOME="$NCCL_HOME_FOUND"
      # the wheel ships only libnccl.so.2; the linker wants libnccl.so
      [ -e "$NCCL_HOME_FOUND/lib/libnccl.so" ] || ln -s libnccl.so.2 "$NCCL_HOME_FOUND/lib/libnccl.so" || true
    fi
  fi
  FLAGS="$FLAGS-nccl"
  log "building with NCCL GPU operations (HOROVOD_NCCL_HOME=${HOROVOD_NCCL_HOME:-system})"
else
  log "no GPU build (no nvcc+GPU, HOROVOD_GPU_OPERATIONS unset): CPU collectives only"
fi

KEY="horovod-${HVD_VERSION}-tf${TF_VERSION}-${PY_TAG}-${FLAGS}"
KEY_DIR="$CACHE_DIR/$KEY"
mkdir -p "$CACHE_DIR"

# 3. Build the wheel unless cached.
WHEEL=$(ls "$KEY_DIR"/horovod-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$WHEEL" ] || [ "${REJOINDER_HOROVOD_FORCE:-0}" = 1 ]; then
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  log "downloading horovod==$HVD_VERSION sdist (checked against uv.lock's hashes)"
  echo "$PIN" > "$WORK/horovod.txt"
  "$PYTHON" -m pip download -q --no-deps --no-binary :all: --require-hashes -d "$WORK" -r "$WORK/horovod.txt"
  tar -xzf "$WORK"/horovod-"$HVD_VERSION".tar.gz -C "$WORK"
  SRC="$WORK/horovod-$HVD_VERSION"
  CML="$SRC/horovod/tensorflow/CMakeLists.txt"
  # The one-line patch: stop compiling xla_mpi_ops.cc (headers missing from TF >= 2.16 wheels).
  if grep -q 'xla_mpi_ops.cc' "$CML"; then
    sed -i '/list(APPEND TF_SOURCES .*xla_mpi_ops\.cc")/d' "$CML"
    ! grep -q 'xla_mpi_ops.cc' "$CML" || { log "patch did not apply to $CML"; exit 1; }
    log "patched $CML (dropped xla_mpi_ops.cc)"
  fi
  if command -v ccache >/dev/null 2>&1; then
    export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
    export HOROVOD_CMAKE_FLAGS="${HOROVOD_CMAKE_FLAGS:-} -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
  fi
  export MAKEFLAGS="-j$(nproc 2>/dev/null || echo 2)"
  log "building wheel ($KEY); this takes several minutes on 2 cores"
  "$PYTHON" -m pip wheel --no-build-isolation --no-deps -w "$WORK/wheel" "$SRC"
  # Publish atomically: build into a temp dir next to the cache, then rename.
  TMP_KEY=$(mktemp -d "$CACHE_DIR/.${KEY}.XXXXXX")
  cp "$WORK"/wheel/horovod-*.whl "$TMP_KEY"/
  rm -rf "$KEY_DIR"
  mv "$TMP_KEY" "$KEY_DIR"
  WHEEL=$(ls "$KEY_DIR"/horovod-*.whl | head -n1)
else
  log "using cached wheel $WHEEL"
fi

if [ -n "${REJOINDER_HOROVOD_WHEEL_DIR:-}" ]; then
  cp "$WHEEL" "$REJOINDER_HOROVOD_WHEEL_DIR"/
  log "copied $(basename "$WHEEL") to $REJOINDER_HOROVOD_WHEEL_DIR"
  exit 0
fi

# 4. Install and verify. --force-reinstall replaces a same-version build made for another TF;
#    --no-deps: Horovod's small pure-Python requirements (cloudpickle, psutil, ...) are in uv.lock
#    and already installed by `.ci/lock.py sync`, at the locked versions.
"$PYTHON" -m pip install -q --force-reinstall --no-deps "$WHEEL"
HVDRUN="$(dirname "$PYTHON")/horovodrun"
[ -x "$HVDRUN" ] || HVDRUN=horovodrun
"$HVDRUN" --check-build
"$PYTHON" -c "import horovod.tensorflow as hvd; hvd.init(); print('horovod', hvd.size(), 'process(es) OK')"
log "installed $(basename "$WHEEL")"
