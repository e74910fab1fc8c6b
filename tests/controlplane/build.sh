#!/usr/bin/env bash
# Build the test control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kwok) from the pinned Go modules beside this script, into a cache keyed by the Go version and
# every go.mod/go.sum, and print the bin directory. Warm, it only hashes and prints (0.1 s).
# Measured cold (empty module and build caches, 2 cores shared with other jobs at load 6-10):
# 23.5 min wall, 13 CPU-minutes, 2.6 GB peak memory (the linker: 2.0 GB), 1.1 GB of modules and
# 3.5 GB of Go build cache; the binaries take 350 MB and are the same bytes whatever the cache.
#   tests/controlplane/build.sh            # prints e.g. ~/.cache/rejoinder/controlplane/<key>/bin
#   tests/controlplane/build.sh --check    # prints it if built, else exits 3 without building
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export PATH="/usr/local/go/bin:$PATH"
# The modules pin their dependencies for this Go; never let the go command fetch another one.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

key() {
  {
    go version
    for mod in kubernetes etcd kwok; do cat "$here/$mod/go.mod" "$here/$mod/go.sum"; done
    sed -n '/^# --- build ---/,$p' "$0"  # the build steps below (not these comments) change the key too
  } | sha256sum | cut -c1-16
}

version_of() {  # version_of <module dir> <module path>
  (cd "$here/$1" && go list -m -f '{{.Version}}' "$2")
}

k8s_version="$(version_of kubernetes k8s.io/kubernetes)"
root="${XDG_CACHE_HOME:-$HOME/.cache}/rejoinder/controlplane"
out="$root/$k8s_version-$(key)"
if [ -x "$out/bin/kube-apiserver" ]; then echo "$out/bin"; exit 0; fi
if [ "${1:-}" = "--check" ]; then echo "no build of these pins at $out" >&2; exit 3; fi

# --- build ---
mkdir -p "$root"
tmp="$(mktemp -d "$root/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"

# What upstream's hack/lib/version.sh stamps: without it /version says v0.0.0 and `helm install`
# refuses a chart with a kubeVersion constraint. The date is the release's, so builds agree.
minor="${k8s_version#v1.}"; minor="${minor%%.*}"
date="$(cd "$here/kubernetes" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
done

echo "building the control plane $k8s_version into $out (cold: about 25 minutes on 2 cores)" >&2
# One build for the three Kubernetes commands: their shared packages compile once.
(cd "$here/kubernetes" && go build -trimpath -ldflags "$ldflags" -o "$tmp/bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler)
(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$tmp/bin/etcd" go.etcd.io/etcd/server/v3)
(cd "$here/kwok" && go build -trimpath -ldflags "-s -w" -o "$tmp/bin/kwok" sigs.k8s.io/kwok/cmd/kwok)

# kwok's own CRDs and default stages, from the same module version, beside the binaries: the
# harness installs them at run time, when the module cache may be gone.
kwok_dir="$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
mkdir -p "$tmp/share/kwok"
cp "$kwok_dir/kustomize/crd/bases/kwok.x-k8s.io_stages.yaml" \
   "$kwok_dir/kustomize/crd/bases/kwok.x-k8s.io_clusterlogs.yaml" \
   "$kwok_dir/kustomize/stage/node/fast/node-initialize.yaml" \
   "$kwok_dir/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
   "$kwok_dir/kustomize/stage/pod/fast/pod-ready.yaml" \
   "$kwok_dir/kustomize/stage/pod/fast/pod-delete.yaml" "$tmp/share/kwok/"
chmod a-w "$tmp"/bin/* "$tmp"/share/kwok/*

# Publish atomically: a reader sees either no directory or a complete one.
if mv -T "$tmp" "$out" 2>/dev/null; then trap - EXIT; else rm -rf "$tmp"; fi
echo "$out/bin"
