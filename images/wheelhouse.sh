#!/usr/bin/env bash
# Build (once) the wheelhouse the images install from, and print its directory.
#
#   images/wheelhouse.sh cpu|cuda [PYTHON]     # PYTHON default .venv/bin/python (Python 3.11)
#
# Every Python package of the three images is a wheel made here on the host, so an image build
# needs no package index (air-gapped builds, and these machines, whose build containers have no
# route to one) and the slow source builds happen once: YouTokenToMe (an sdist whose setup imports
# Cython undeclared) and the patched Horovod (training/install_horovod.sh, which keeps its own
# cache). The result is cached under ${XDG_CACHE_HOME:-~/.cache}/rejoinder/wheelhouse/, keyed by
# images/constraints.txt, the requirements pyproject.toml gives each image and this script, and
# published atomically (a half-built wheelhouse is never used).
#
# Layout: *.whl, requirements/<component>.txt (from images/requirements.py), KEY.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONSAFEPATH=1
FLAVOUR=${1:?usage: images/wheelhouse.sh cpu|cuda [PYTHON]}
PYTHON=${2:-.venv/bin/python}
case "$FLAVOUR" in cpu|cuda) ;; *) echo "unknown flavour $FLAVOUR (cpu or cuda)" >&2; exit 2 ;; esac
log() { echo "[wheelhouse] $*" >&2; }
COMPONENTS=(operator model-server trainer)
PIP=("$PYTHON" -m pip --disable-pip-version-check)

REQS=$(for c in "${COMPONENTS[@]}"; do
  echo "## $c"; "$PYTHON" images/requirements.py "$c" "$FLAVOUR"
  echo "## $c --no-deps"; "$PYTHON" images/requirements.py "$c" "$FLAVOUR" --no-deps
done)
# Build tools for installing rejoinder itself inside the image (--no-build-isolation), pinned to
# the project virtualenv's versions.
TOOLS=$("$PYTHON" - <<'PY'
from importlib.metadata import version
print(f"setuptools=={version('setuptools')}\nwheel=={version('wheel')}")
PY
)
KEY=$( { cat images/constraints.txt; echo "$REQS"; echo "$TOOLS"; cat "$0"; } | sha256sum | cut -c1-16)
ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/rejoinder/wheelhouse"
DIR="$ROOT/$FLAVOUR-$KEY"
if [ -f "$DIR/KEY" ]; then
  log "using $DIR"
  echo "$DIR"
  exit 0
fi

mkdir -p "$ROOT"
TMP=$(mktemp -d "$ROOT/.$FLAVOUR-$KEY.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/requirements"
for c in "${COMPONENTS[@]}"; do
  "$PYTHON" images/requirements.py "$c" "$FLAVOUR" > "$TMP/requirements/$c.txt"
  "$PYTHON" images/requirements.py "$c" "$FLAVOUR" --no-deps > "$TMP/requirements/$c-no-deps.txt"
done
echo "$TOOLS" > "$TMP/requirements/build-tools.txt"

log "building youtokentome (sdist, needs Cython from $PYTHON)"
"${PIP[@]}" wheel -q --no-build-isolation --no-deps -c images/constraints.txt -w "$TMP" youtokentome==1.0.6
"${PIP[@]}" wheel -q --no-deps -c images/constraints.txt -w "$TMP" -r "$TMP/requirements/trainer-no-deps.txt"
log "collecting wheels for $FLAVOUR (TensorFlow is large: minutes on first run)"
"${PIP[@]}" wheel -q -c images/constraints.txt --find-links "$TMP" -w "$TMP" \
  -r "$TMP/requirements/build-tools.txt" \
  -r "$TMP/requirements/operator.txt" -r "$TMP/requirements/model-server.txt" -r "$TMP/requirements/trainer.txt"

# Horovod for the trainer (requirements/horovod.txt names the built wheel): CPU collectives
# (Gloo, MPI) for cpu; NCCL for cuda, which needs a CUDA 12 toolkit (nvcc, cudart headers) on
# this host. Without it the cuda wheelhouse still serves the model server; the cuda trainer
# build then stops at its Horovod install, saying the requirements file is missing.
if [ "$FLAVOUR" = cuda ]; then
  HOROVOD_GPU_OPERATIONS=NCCL REJOINDER_HOROVOD_WHEEL_DIR="$TMP" bash training/install_horovod.sh "$PYTHON" \
    || log "Horovod with NCCL did not build here (see above): no Horovod in the cuda wheelhouse"
else
  REJOINDER_HOROVOD_WHEEL_DIR="$TMP" bash training/install_horovod.sh "$PYTHON"
fi
for wheel in "$TMP"/horovod-*.whl; do
  [ -e "$wheel" ] || continue
  # Horovod's own small requirements (cloudpickle, psutil, ...), then its pin for the Dockerfile.
  "${PIP[@]}" wheel -q -c images/constraints.txt --find-links "$TMP" -w "$TMP" "$wheel"
  basename "$wheel" | sed -E 's/^horovod-([^-]+)-.*/horovod==\1/' > "$TMP/requirements/horovod.txt"
done
echo "$FLAVOUR" > "$TMP/FLAVOUR"

echo "$KEY" > "$TMP/KEY"
rm -rf "$DIR"
mv "$TMP" "$DIR"
trap - EXIT
log "built $DIR ($(ls "$DIR"/*.whl | wc -l) wheels, $(du -sh "$DIR" | cut -f1))"
echo "$DIR"
