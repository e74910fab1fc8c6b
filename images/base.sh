#!/usr/bin/env bash
# Make a base image from Debian packages alone (no container registry), and print its name.
#
#   images/base.sh COMPONENT        # operator | trainer | model-server
#
# For machines that cannot pull python:3.11-slim (air-gapped clusters, these build machines):
# mmdebstrap builds a minimal Debian bookworm root filesystem with Python 3.11 and the
# component's runtime packages (images/<component>/packages.txt, the list its Dockerfile also
# installs on a public base), and podman imports it as localhost/rejoinder-base-<component>.
# The tag is a hash of the package list and this script, so an unchanged base is not rebuilt.
#
#   MIRROR   Debian mirror, default http://deb.debian.org/debian (security updates from
#            the matching debian-security suite)
#   BUILDER  podman (default) or docker
set -euo pipefail
cd "$(dirname "$0")/.."
COMPONENT=${1:?usage: images/base.sh operator|trainer|model-server}
PACKAGES_FILE="images/$COMPONENT/packages.txt"
[ -f "$PACKAGES_FILE" ] || { echo "no $PACKAGES_FILE" >&2; exit 2; }
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${SECURITY_MIRROR:-${MIRROR%/debian}/debian-security}
BUILDER=${BUILDER:-podman}
SUITE=bookworm
# python3-venv: the build stage makes /opt/venv with the base's own Python.
PACKAGES="python3,python3-venv,$(grep -v '^#' "$PACKAGES_FILE" | xargs | tr ' ' ,)"
TAG=$( { echo "$SUITE $PACKAGES"; cat "$0"; } | sha256sum | cut -c1-12)
IMAGE="localhost/rejoinder-base-$COMPONENT:$SUITE-$TAG"
if "$BUILDER" image exists "$IMAGE" 2>/dev/null || "$BUILDER" image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE"
  exit 0
fi
command -v mmdebstrap >/dev/null || { echo "mmdebstrap not found (apt-get install mmdebstrap)" >&2; exit 1; }
echo "[base] $IMAGE: mmdebstrap $SUITE with $PACKAGES" >&2
# minbase: Essential and required packages only (no apt lists or caches are kept);
# an unprivileged-user-friendly mode is chosen by mmdebstrap itself.
mmdebstrap --quiet --variant=minbase --include="$PACKAGES" \
  "$SUITE" - "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
  "deb $SECURITY $SUITE-security main" \
  | "$BUILDER" import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$IMAGE" >&2
echo "$IMAGE"
