#!/usr/bin/env bash
# Re-make the three Go modules that pin the test control plane (then commit go.mod and go.sum):
#   tests/controlplane/pin.sh v1.36.3 v3.6.17 v0.8.0   # Kubernetes, etcd, kwok
# k8s.io/kubernetes requires its staging modules (k8s.io/api, client-go, ...) at v0.0.0 and
# replaces them with ./staging/src/..., which a dependency's go.mod cannot do for us: each is
# replaced here by its tag, k8s.io/<X>@v0.<minor>.<patch>, the list read from the downloaded
# go.mod. etcd and kwok get modules of their own so that their gRPC/otel pins never meet
# Kubernetes'. Never `go get -u`: it pulls modules that need a newer Go than this one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export PATH="/usr/local/go/bin:$PATH" GOTOOLCHAIN=local GOFLAGS=-mod=mod
k8s="$1" etcd="$2" kwok="$3"

fresh() {  # fresh <dir> <module name>: an empty module
  rm -f "$here/$1/go.mod" "$here/$1/go.sum"
  mkdir -p "$here/$1"
  (cd "$here/$1" && go mod init "$2" >/dev/null 2>&1)
}

fresh kubernetes rejoinder.test/controlplane/kubernetes
cd "$here/kubernetes"
mod="$(go mod download -json "k8s.io/kubernetes@$k8s" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
staging="$(awk '/^require \(/{r=1; next} r && /^\)/{r=0} r && $2 == "v0.0.0" {print $1}' "$mod")"
for m in $staging; do go mod edit -replace="$m=$m@v0.${k8s#v1.}"; done
go mod edit -godebug="$(sed -n 's/^godebug //p' "$mod")"  # the runtime defaults upstream builds with
go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$k8s" "k8s.io/kubernetes/cmd/kube-controller-manager@$k8s" \
  "k8s.io/kubernetes/cmd/kube-scheduler@$k8s"

fresh etcd rejoinder.test/controlplane/etcd
(cd "$here/etcd" && go get -tool "go.etcd.io/etcd/server/v3@$etcd")

fresh kwok rejoinder.test/controlplane/kwok
(cd "$here/kwok" && go get -tool "sigs.k8s.io/kwok/cmd/kwok@$kwok")
echo "pinned Kubernetes $k8s, etcd $etcd, kwok $kwok; now run $here/build.sh" >&2
