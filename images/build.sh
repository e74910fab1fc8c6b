#!/usr/bin/env bash
# Build (and optionally push) the rejoinder container images from the repository root.
#
#   images/build.sh [--push] [operator|trainer|model-server ...]   # default: all three
#
#   REGISTRY  image prefix, default ghcr.io/rejoinder (the chart's image.registry)
#   TAG       image tag, default the project version from pyproject.toml (the chart's appVersion)
#   BUILDER   docker (default) or podman; docker uses BuildKit (`docker buildx build`)
#   PLATFORM  default linux/amd64 (the CUDA wheels exist for x86-64 only)
#
# Image names match the chart's values: <REGISTRY>/rejoinder-<component>:<TAG>.
set -euo pipefail
cd "$(dirname "$0")/.."

PUSH=0
COMPONENTS=()
for arg in "$@"; do
  case "$arg" in
    --push) PUSH=1 ;;
    operator|trainer|model-server) COMPONENTS+=("$arg") ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (expected --push, operator, trainer or model-server)" >&2; exit 2 ;;
  esac
done
[ ${#COMPONENTS[@]} -gt 0 ] || COMPONENTS=(operator trainer model-server)

REGISTRY=${REGISTRY:-ghcr.io/rejoinder}
TAG=${TAG:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n1)}
BUILDER=${BUILDER:-docker}
PLATFORM=${PLATFORM:-linux/amd64}
[ -n "$TAG" ] || { echo "cannot read the version from pyproject.toml; set TAG" >&2; exit 1; }
command -v "$BUILDER" >/dev/null || { echo "$BUILDER not found; set BUILDER=podman or install Docker" >&2; exit 1; }

for component in "${COMPONENTS[@]}"; do
  image="$REGISTRY/rejoinder-$component:$TAG"
  echo "==> building $image (images/$component/Dockerfile)"
  if [ "$BUILDER" = docker ]; then
    docker buildx build --platform "$PLATFORM" -f "images/$component/Dockerfile" -t "$image" \
      $([ "$PUSH" = 1 ] && echo --push || echo --load) .
  else
    "$BUILDER" build --platform "$PLATFORM" -f "images/$component/Dockerfile" -t "$image" .
    [ "$PUSH" = 0 ] || "$BUILDER" push "$image"
  fi
done
