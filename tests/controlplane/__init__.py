"""A real Kubernetes control plane for the tests: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (a fake kubelet) as local processes on 127.0.0.1, built from pinned Go
modules by `tests/controlplane/build.sh` (docs/kubernetes.md, "Tested against").

Tests take the `control_plane` fixture (tests/controlplane/fixtures.py) and the `realcluster`
marker; without built binaries they skip, unless REJOINDER_REQUIRE_CONTROL_PLANE=1 (CI)."""
