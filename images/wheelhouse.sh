#!/usr/bin/env bash
# Build (once) the wheelhouse the images install from, and print its directory.
#
#   images/wheelhouse.sh cpu|cuda [PYTHON]     # PYTHON default .venv/bin/python (Python 3.11)
#
# Every Python package of the three images is a file fetched or built here on the host, so an
# image build needs no package index (air-gapped builds, and these machines, whose build
# containers have no route to one). Versions and hashes come from uv.lock, the same lock the
# project virtualenv is synced from (.ci/lock.py), so `make test` tests what the images ship:
# requirements/<component>.txt holds an image's whole closure as hashed pins (installed with
# --no-deps --require-hashes), requirements/<component>-local.txt the locked packages whose
# wheels are built here: YouTokenToMe (sdist only; its setup imports Cython undeclared) and
# the patched Horovod (training/install_horovod.sh, which keeps its own cache); both sdists are
# checked against the lock's hashes. requirements/metadata-overrides.txt names the packages
# whose declared requirements the lock overrides (the image's `pip check` may report only them).
# The result is cached under ${XDG_CACHE_HOME:-~/.cache}/rejoinder/wheelhouse/, keyed by uv.lock,
# .ci/lock.py and this script, and published atomically (a half-built one is never used).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONSAFEPATH=1
FLAVOUR=${1:?usage: images/wheelhouse.sh cpu|cuda [PYTHON]}
PYTHON=${2:-.venv/bin/python}
case "$FLAVOUR" in cpu|cuda) ;; *) echo "unknown flavour $FLAVOUR (cpu or cuda)" >&2; exit 2 ;; esac
log() { echo "[wheelhouse] $*" >&2; }
COMPONENTS=(operator model-server trainer)
PIP=("$PYTHON" -m pip --disable-pip-version-check)
LOCK=("$PYTHON" .ci/lock.py)
export VENV=${VENV:-$(dirname "$(dirname "$PYTHON")")}

KEY=$( { cat uv.lock .ci/lock.py "$0"; } | sha256sum | cut -c1-16)
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
  "${LOCK[@]}" image "$c" "$FLAVOUR" > "$TMP/requirements/$c.txt"
  "${LOCK[@]}" image-local "$c" > "$TMP/requirements/$c-local.txt"
done
"${LOCK[@]}" metadata-overrides > "$TMP/requirements/metadata-overrides.txt"

log "downloading the locked wheels for $FLAVOUR (TensorFlow is large: minutes on first run)"
for c in "${COMPONENTS[@]}"; do
  "${PIP[@]}" download -q --no-deps --only-binary :all: --require-hashes -d "$TMP" -r "$TMP/requirements/$c.txt"
done

if grep -q '^youtokentome==' "$TMP"/requirements/*-local.txt; then
  log "building youtokentome (sdist, with the lock's Cython from $PYTHON)"
  "${LOCK[@]}" pin youtokentome > "$TMP/youtokentome.txt"
  "${PIP[@]}" wheel -q --no-build-isolation --no-deps --require-hashes -w "$TMP" -r "$TMP/youtokentome.txt"
  rm "$TMP/youtokentome.txt"
fi

# Horovod for the trainer: CPU collectives (Gloo, MPI) for cpu; NCCL for cuda, which needs a
# CUDA 12 toolkit (nvcc, cudart headers) on this host. Without it the cuda wheelhouse still
# serves the model server; the cuda trainer build then stops, saying Horovod is missing.
if [ "$FLAVOUR" = cuda ]; then
  HOROVOD_GPU_OPERATIONS=NCCL REJOINDER_HOROVOD_WHEEL_DIR="$TMP" bash training/install_horovod.sh "$PYTHON" \
    || log "Horovod with NCCL did not build here (see above): no Horovod in the cuda wheelhouse"
else
  REJOINDER_HOROVOD_WHEEL_DIR="$TMP" bash training/install_horovod.sh "$PYTHON"
fi
if ! ls "$TMP"/horovod-*.whl >/dev/null 2>&1; then
  sed -i '/^horovod==/d' "$TMP/requirements/trainer-local.txt"
fi
echo "$FLAVOUR" > "$TMP/FLAVOUR"

echo "$KEY" > "$TMP/KEY"
rm -rf "$DIR"
mv "$TMP" "$DIR"
trap - EXIT
log "built $DIR ($(ls "$DIR"/*.whl | wc -l) wheels, $(du -sh "$DIR" | cut -f1))"
echo "$DIR"
