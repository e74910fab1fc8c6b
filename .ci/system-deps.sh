#!/usr/bin/env bash
# System packages: OpenMPI for Horovod's MPI controller, ccache to speed Horovod rebuilds, and
# podman/buildah/mmdebstrap/runc to build and run the container images (tests/images).
# Best effort: without root or apt, Horovod is built with Gloo only and the image tests skip.
set -euo pipefail
need=()
command -v mpirun >/dev/null 2>&1 || need+=(libopenmpi-dev openmpi-bin)
command -v ccache >/dev/null 2>&1 || need+=(ccache)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v runc >/dev/null 2>&1 || need+=(runc)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "note: cannot install ${need[*]} (not root or no apt-get); Horovod will use Gloo only," \
       "and without podman the image tests skip" >&2
fi
