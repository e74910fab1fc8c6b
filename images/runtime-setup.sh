#!/bin/sh
# Runtime-stage setup shared by the three Dockerfiles (bind-mounted, not copied, into the image):
#   runtime-setup.sh PACKAGES_FILE UID
# 1. The system packages in PACKAGES_FILE: a base from images/base.sh already has them (it reads
#    the same file), a public Python image gets the missing ones from apt.
# 2. The non-root user UID (the chart's runAsUser). Its home directory belongs to root, so
#    nothing outside /tmp and the pod's volumes is writable by the process.
set -eu
packages_file=$1
uid=$2
missing=""
while read -r pkg; do
  [ -n "$pkg" ] || continue
  dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed || missing="$missing $pkg"
done < "$packages_file"
if [ -n "$missing" ]; then
  apt-get update
  # shellcheck disable=SC2086  # a list of package names
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
  rm -rf /var/lib/apt/lists/*
fi
groupadd --gid "$uid" rejoinder
useradd --uid "$uid" --gid "$uid" --no-create-home --home-dir /home/rejoinder --shell /bin/bash rejoinder
mkdir -p /home/rejoinder
