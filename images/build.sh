#!/usr/bin/env bash
# Build (and optionally push) the rejoinder container images from the repository root.
#
#   images/build.sh [--flavour cpu|cuda] [--base python|debian|IMAGE] [--push]
#                   [operator|trainer|model-server ...]            # default: all three
#
#   --flavour  cpu (default: TensorFlow CPU, faiss-cpu; tag <TAG>) or cuda (tensorflow[and-cuda],
#              faiss-gpu-cu12, Horovod with NCCL; tag <TAG>-cuda). Same Dockerfiles.
#   --base     python (default): the public python:3.11.7-slim-bookworm image (needs a registry);
#              debian: a base made from Debian packages by images/base.sh (no registry, air-gapped);
#              or any image reference with Python 3.11 on Debian bookworm.
#   REGISTRY   image prefix, default ghcr.io/rejoinder (the chart's image.registry)
#   TAG        image tag, default the project version from pyproject.toml (the chart's appVersion)
#   BUILDER    podman (default when installed) or docker (BuildKit, `docker buildx build`)
#   PYTHON     Python 3.11 that builds the wheelhouse, default .venv/bin/python (make install)
#   IMAGE_UID  uid/gid of the images' user, default 10001 (the chart's runAsUser)
#
# Python packages come from a wheelhouse built once on this host (images/wheelhouse.sh, cached
# under ~/.cache/rejoinder), so the image builds themselves need no package index.
# Image names match the chart's values: <REGISTRY>/rejoinder-<component>:<TAG>.
set -euo pipefail
cd "$(dirname "$0")/.."

PUSH=0
FLAVOUR=cpu
BASE=python
COMPONENTS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --push) PUSH=1 ;;
    --flavour) FLAVOUR=${2:?--flavour needs cpu or cuda}; shift ;;
    --flavour=*) FLAVOUR=${1#*=} ;;
    --base) BASE=${2:?--base needs python, debian or an image}; shift ;;
    --base=*) BASE=${1#*=} ;;
    operator|trainer|model-server) COMPONENTS+=("$1") ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see images/build.sh --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$FLAVOUR" in cpu|cuda) ;; *) echo "unknown flavour $FLAVOUR (cpu or cuda)" >&2; exit 2 ;; esac
[ ${#COMPONENTS[@]} -gt 0 ] || COMPONENTS=(operator trainer model-server)

REGISTRY=${REGISTRY:-ghcr.io/rejoinder}
TAG=${TAG:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n1)}
[ -n "$TAG" ] || { echo "cannot read the version from pyproject.toml; set TAG" >&2; exit 1; }
[ "$FLAVOUR" = cpu ] || TAG="$TAG-$FLAVOUR"
if [ -z "${BUILDER:-}" ]; then
  if command -v podman >/dev/null; then BUILDER=podman; else BUILDER=docker; fi
fi
command -v "$BUILDER" >/dev/null || { echo "$BUILDER not found; install podman or Docker, or set BUILDER" >&2; exit 1; }
export BUILDER

WHEELS=$(images/wheelhouse.sh "$FLAVOUR" "${PYTHON:-.venv/bin/python}")
if [ "$FLAVOUR" = cuda ] && [[ " ${COMPONENTS[*]} " == *" trainer "* ]] && ! grep -q "^horovod==" "$WHEELS/requirements/trainer-local.txt"; then
  echo "the cuda trainer needs Horovod built with NCCL, which did not build on this host" \
       "(needs a CUDA 12 toolkit; see images/wheelhouse.sh); build the other images, or build on a CUDA host" >&2
  exit 1
fi

for component in "${COMPONENTS[@]}"; do
  case "$BASE" in
    python) base_image=python:3.11.7-slim-bookworm ;;
    debian) base_image=$(images/base.sh "$component") ;;
    *) base_image=$BASE ;;
  esac
  image="$REGISTRY/rejoinder-$component:$TAG"
  echo "==> building $image (images/$component/Dockerfile, $FLAVOUR, on $base_image)"
  args=(-f "images/$component/Dockerfile" -t "$image" --build-context "wheels=$WHEELS"
        --build-arg "BASE_IMAGE=$base_image" --build-arg "FLAVOUR=$FLAVOUR"
        --build-arg "WHEELHOUSE=$(basename "$WHEELS")")
  [ -z "${IMAGE_UID:-}" ] || args+=(--build-arg "UID=$IMAGE_UID")
  if [ "$BUILDER" = docker ]; then
    docker buildx build --platform "${PLATFORM:-linux/amd64}" "${args[@]}" \
      "$([ "$PUSH" = 1 ] && echo --push || echo --load)" .
  else
    # docker format: OCI image configs cannot carry SHELL, which the build steps rely on.
    "$BUILDER" build --format docker --platform "${PLATFORM:-linux/amd64}" "${args[@]}" .
    [ "$PUSH" = 0 ] || "$BUILDER" push "$image"
  fi
  echo "==> $image: $("$BUILDER" image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}')"
done
