"""One real node joined to a running test control plane: containerd (Debian's `containerd`, with
runc and `containernetworking-plugins`' bridge), kubelet and kube-proxy (build.sh). Images come
from podman's local store (no registry); the sandbox image is `pause` from build.sh.

    with RealNode(plane, bin_dir, workdir, store, images=[...]) as node: ...

The node is tainted rejoinder.dev/real-kubelet=true:NoSchedule and labelled
rejoinder.dev/real-kubelet=true: only pods that ask for it land there. Everything it started
is stopped on exit, including what outlives a stopped containerd (the shims and their
containers), its mounts, network namespaces, bridge and iptables chains."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Optional

from kubernetes import client

from .. import kubeconfig
from ..cluster import ControlPlane, free_ports, wait_for
from ..kube import raw
from ..processes import Component

TAINT = {"key": "rejoinder.dev/real-kubelet", "value": "true", "effect": "NoSchedule"}
LABEL = {"rejoinder.dev/real-kubelet": "true"}
BRIDGE = "rjcni0"
PAUSE = "localhost/rejoinder/pause:1"


def _run(*argv: str, stdin: Any = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), stdin=stdin, capture_output=True, text=True, check=False)


def node_ip() -> str:
    """The first global IPv4 address: the kubelet refuses a loopback node IP."""
    out = _run("ip", "-4", "-o", "addr", "show", "scope", "global").stdout.split()
    return out[out.index("inet") + 1].split("/")[0]


class RealNode:
    def __init__(self, plane: ControlPlane, bin_dir: Path, workdir: Path, store: Path, images: list[str],
                 name: str = "real-node-0", pod_cidr: str = "10.244.200.0/24") -> None:
        self.plane, self.bin_dir, self.workdir, self.store = plane, bin_dir, workdir, store
        self.images, self.name, self.pod_cidr = images, name, pod_cidr
        self.socket = workdir / "containerd.sock"
        self.components: list[Component] = []
        self.netns_before: set[str] = set()
        self._lock: Optional[Any] = None

    # --- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> "RealNode":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _start(self, name: str, argv: list[str]) -> Component:
        component = Component(name, argv, self.workdir / f"{name}.log")
        component.start(env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "HOME": str(self.workdir)})
        self.components.append(component)
        return component

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.store.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.store / "lock", "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # one containerd per image store
        self.netns_before = set(_run("ip", "netns", "list").stdout.split())
        self._containerd()
        self._import_images()
        self._kubelet()
        self._kube_proxy()
        core = client.CoreV1Api(self.plane.api())
        wait_for(f"node {self.name} Ready", lambda: any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (raw(core.list_node, field_selector=f"metadata.name={self.name}")["items"] or [{}])[0]
            .get("status", {}).get("conditions", [])), timeout=180)

    # --- containerd -------------------------------------------------------------------------
    def _containerd(self) -> None:
        cni = self.workdir / "cni"
        cni.mkdir(exist_ok=True)
        (cni / "10-rejoinder.conflist").write_text(json.dumps({"cniVersion": "1.0.0", "name": "rejoinder", "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": self.pod_cidr}]], "routes": [{"dst": "0.0.0.0/0"}],
                      "dataDir": str(self.workdir / "cni-ipam")}},
            {"type": "portmap", "capabilities": {"portMappings": True}}]}))
        config = self.workdir / "containerd.toml"
        # restrict_oom_score_adj: this sandbox refuses a negative oom_score_adj (the kubelet asks
        # -998 for pod sandboxes), as it refuses raising rlimits: runc's init then dies.
        config.write_text(f'''version = 2
root = "{self.store / 'containerd'}"
state = "{self.workdir / 'containerd-state'}"
[grpc]
  address = "{self.socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  enable_selinux = false
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
''')
        process = self._start("containerd", ["containerd", "--config", str(config)])
        wait_for("containerd's socket", lambda: self.socket.exists() or not process.running(), timeout=60)
        assert process.running(), process.tail()

    def _ctr(self, *args: str, stdin: Any = None) -> subprocess.CompletedProcess[str]:
        return _run("ctr", "-a", str(self.socket), "-n", "k8s.io", *args, stdin=stdin)

    def _import_images(self) -> None:
        """The pause image (made here) and the given podman images, unless containerd has the same."""
        context = Path(tempfile.mkdtemp(dir=self.workdir))
        (context / "pause").write_bytes((self.bin_dir / "pause").read_bytes())
        (context / "pause").chmod(0o755)
        (context / "Containerfile").write_text('FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n')
        built = _run("podman", "build", "-q", "-t", PAUSE, str(context))
        assert built.returncode == 0, built.stderr
        record = self.store / "imported.json"
        imported = json.loads(record.read_text()) if record.exists() else {}
        present = set(self._ctr("images", "ls", "-q").stdout.split())
        for image in [PAUSE, *self.images]:
            image_id = _run("podman", "image", "inspect", "--format", "{{.Id}}", image).stdout.strip()
            assert image_id, f"podman has no image {image}"
            if image in present and imported.get(image) == image_id:
                continue
            save = subprocess.Popen(["podman", "save", image], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            done = self._ctr("images", "import", "-", stdin=save.stdout)
            save.wait()
            assert done.returncode == 0 and save.returncode == 0, done.stderr
            imported[image] = image_id
            record.write_text(json.dumps(imported))

    # --- kubelet and kube-proxy ---------------------------------------------------------------
    def _kubelet(self) -> None:
        ip = node_ip()
        pki = self.plane.ca
        identity = pki.issue(f"kubelet-{self.name}", f"system:node:{self.name}", "system:nodes", client=True)
        serving = pki.issue(f"kubelet-serving-{self.name}", self.name, hosts=(ip, "127.0.0.1"))
        kc = kubeconfig.write(self.workdir / "kubelet.kubeconfig", self.plane.server, pki.cert,
                              user=f"system:node:{self.name}", cert=identity.cert, key=identity.key)
        port, health = free_ports(2)
        (self.workdir / "pod-logs").mkdir(exist_ok=True)
        config = self.workdir / "kubelet.json"
        config.write_text(json.dumps({
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                               "x509": {"clientCAFile": str(pki.cert)}},
            "authorization": {"mode": "AlwaysAllow"},  # only the apiserver's kubelet client reaches it
            # this machine mounts cgroup v1 (the kubelet refuses it unless told) and has no systemd
            "cgroupDriver": "cgroupfs", "failCgroupV1": False, "failSwapOn": False,
            "cgroupsPerQOS": False, "enforceNodeAllocatable": [],
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "address": ip, "port": port, "readOnlyPort": 0, "healthzBindAddress": "127.0.0.1", "healthzPort": health,
            "tlsCertFile": str(serving.cert), "tlsPrivateKeyFile": str(serving.key),
            "registerWithTaints": [TAINT], "resolvConf": "", "podLogsDir": str(self.workdir / "pod-logs"),
            # a shared machine: never evict for its disk or memory, never collect images
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        }))
        labels = ",".join(f"{k}={v}" for k, v in LABEL.items())
        self._start("kubelet", [str(self.bin_dir / "kubelet"), f"--config={config}", f"--kubeconfig={kc}",
                                f"--root-dir={self.workdir / 'kubelet'}", f"--cert-dir={self.workdir / 'kubelet-pki'}",
                                f"--hostname-override={self.name}", f"--node-ip={ip}", f"--node-labels={labels}"])

    def _kube_proxy(self) -> None:
        identity = self.plane.ca.issue("kube-proxy", "system:kube-proxy", client=True)
        kc = kubeconfig.write(self.workdir / "kube-proxy.kubeconfig", self.plane.server, self.plane.ca.cert,
                              user="system:kube-proxy", cert=identity.cert, key=identity.key)
        metrics, health = free_ports(2)
        config = self.workdir / "kube-proxy.json"
        config.write_text(json.dumps({
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(kc)}, "hostnameOverride": self.name, "mode": "iptables",
            "clusterCIDR": "10.244.0.0/16", "metricsBindAddress": f"127.0.0.1:{metrics}",
            "healthzBindAddress": f"127.0.0.1:{health}",
            "conntrack": {"maxPerCore": 0, "min": 0},  # leave the machine's conntrack sysctls alone
            "iptables": {"localhostNodePorts": False}}))
        self._start("kube-proxy", [str(self.bin_dir / "kube-proxy"), f"--config={config}"])

    # --- teardown ---------------------------------------------------------------------------
    def _shims(self) -> list[int]:
        """containerd-shim processes of this containerd (they outlive it, with the containers)."""
        found = []
        for proc in Path("/proc").iterdir():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"containerd-shim-runc-v2") and str(self.socket).encode() in argv:
                found.append(int(proc.name))
        return found

    def stop(self) -> None:
        for component in reversed(self.components):
            if component.name != "containerd":
                component.stop()
        for shim in self._shims():  # each shim's children are the pod's processes
            children = _run("pgrep", "-P", str(shim)).stdout.split()
            for pid in [*map(int, children), shim]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for component in self.components:
            if component.name == "containerd":
                component.stop()
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(str(self.workdir))), reverse=True):
            _run("umount", "-l", mount)
        for netns in set(_run("ip", "netns", "list").stdout.split()) - self.netns_before:
            if netns.startswith("cni-"):
                _run("ip", "netns", "delete", netns)
        _run("ip", "link", "delete", BRIDGE)
        if (self.bin_dir / "kube-proxy").exists():
            _run(str(self.bin_dir / "kube-proxy"), "--cleanup")
        for tool in ("iptables", "ip6tables"):  # the kubelet's own chains
            for chain in ("INPUT", "OUTPUT"):
                _run(tool, "-D", chain, "-j", "KUBE-FIREWALL")
            _run(tool, "-F", "KUBE-FIREWALL")
            _run(tool, "-X", "KUBE-FIREWALL")
            for table in ("filter", "nat", "mangle"):
                for chain in ("KUBE-KUBELET-CANARY", "KUBE-PROXY-CANARY", "KUBE-IPTABLES-HINT"):
                    _run(tool, "-t", table, "-F", chain)
                    _run(tool, "-t", table, "-X", chain)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
