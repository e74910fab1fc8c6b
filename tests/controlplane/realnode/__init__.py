"""A real node for the test control plane: containerd from Debian's packages runs the pods, and the
kubelet and kube-proxy of the control plane's release join it (README.md)."""
