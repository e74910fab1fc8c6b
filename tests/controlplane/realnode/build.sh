#!/usr/bin/env bash
# Build a real node for the test control plane (tests/controlplane/realnode/README.md): kubelet
# and kube-proxy of the same Kubernetes release as ../kubernetes (this go.mod is that one plus
# the two tools), and `pause`, the pod sandbox program. Cached like ../build.sh, keyed by the Go
# version, these go.mod/go.sum files and the build steps; prints the bin directory.
# Measured with the control plane's Go build cache warm: under a minute on 2 busy cores.
#   tests/controlplane/realnode/build.sh [--check]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export PATH="/usr/local/go/bin:$PATH"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

key() {
  { go version; cat "$here/go.mod" "$here/go.sum" "$here/pause/go.mod" "$here/pause/main.go"; sed -n '/^# --- build ---/,$p' "$0"; } \
    | sha256sum | cut -c1-16
}

version="$(cd "$here" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
root="${XDG_CACHE_HOME:-$HOME/.cache}/rejoinder/realnode"
out="$root/$version-$(key)"
if [ -x "$out/bin/kubelet" ]; then echo "$out/bin"; exit 0; fi
if [ "${1:-}" = "--check" ]; then echo "no build of these pins at $out" >&2; exit 3; fi

# --- build ---
mkdir -p "$root"
tmp="$(mktemp -d "$root/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
minor="${version#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
(cd "$here" && go build -trimpath -ldflags "$ldflags" -o "$tmp/bin/" k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
(cd "$here/pause" && go build -trimpath -ldflags "-s -w" -o "$tmp/bin/pause" .)
if mv -T "$tmp" "$out" 2>/dev/null; then trap - EXIT; else rm -rf "$tmp"; fi
echo "$out/bin"
