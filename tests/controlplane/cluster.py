"""One control plane: certificates, kubeconfigs, the five processes in order, readiness.

    plane = ControlPlane(bin_dir, workdir); plane.start(); ...; plane.stop()

Everything it writes is under `workdir` (removed by stop(); a workdir whose owning process died
is removed by the next start, see sweep_stale)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, TypeVar

from kubernetes import client

from . import audit, components, health, kubeconfig, kwok
from .binaries import share
from .certs import CertificateAuthority, KeyPair, service_account_keys
from .kube import api_client, raw
from .processes import Component

WORKDIR_PREFIX = "rejoinder-cp-"
READY_TIMEOUT = 180.0  # a minute is typical for the apiserver on 2 busy cores; this leaves room


def free_ports(count: int) -> list[int]:
    """Ports free now (the kernel's choice, held open together so they differ)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(root: Path | None = None) -> None:
    """Remove work directories left by a test run that was killed (its processes died with it)."""
    root = root or Path(tempfile.gettempdir())
    for path in root.glob(f"{WORKDIR_PREFIX}*"):
        try:
            owner = int((path / "owner").read_text())
        except (OSError, ValueError):
            continue
        if not _alive(owner):
            shutil.rmtree(path, ignore_errors=True)


class ControlPlane:
    def __init__(self, bin_dir: Path, workdir: Path | None = None) -> None:
        self.bin_dir = bin_dir
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        (self.workdir / "owner").write_text(str(os.getpid()))
        self.logs = self.workdir / "logs"
        self.logs.mkdir(exist_ok=True)
        self.components: list[Component] = []
        self.clients: list[Component] = []  # processes a test started against it (their logs go in report())
        ports = free_ports(6)
        self.ports = components.Ports(*ports)
        self.server = f"https://127.0.0.1:{self.ports.apiserver}"

    # --- certificates and kubeconfigs -------------------------------------------------------
    def _credentials(self) -> None:
        pki = self.workdir / "pki"
        pki.mkdir()
        self.ca = CertificateAuthority(pki)
        local = ("127.0.0.1", "localhost")
        self.serving = self.ca.issue("apiserver", "kube-apiserver", hosts=(
            *local, "kubernetes", "kubernetes.default", "kubernetes.default.svc", "10.0.0.1"))
        self.components_serving = self.ca.issue("components", "127.0.0.1", hosts=local)
        self.service_accounts = service_account_keys(pki)
        self.kubelet_client = self.ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                                            "system:masters", client=True)
        self.admin = self.ca.issue("admin", "admin", "system:masters", client=True)
        # the users bootstrap RBAC grants the two controllers' roles to
        kcm = self.ca.issue("controller-manager", "system:kube-controller-manager", client=True)
        scheduler = self.ca.issue("scheduler", "system:kube-scheduler", client=True)
        kwok_user = self.ca.issue("kwok", "kwok", "system:masters", client=True)  # it plays every kubelet
        self.admin_kubeconfig = self._kubeconfig("admin", self.admin)
        self.kubeconfigs = {"kube-controller-manager": self._kubeconfig("controller-manager", kcm),
                            "kube-scheduler": self._kubeconfig("scheduler", scheduler),
                            "kwok": self._kubeconfig("kwok", kwok_user)}

    def _kubeconfig(self, user: str, pair: KeyPair) -> Path:
        return kubeconfig.write(self.workdir / f"{user}.kubeconfig", self.server, self.ca.cert,
                                user=user, cert=pair.cert, key=pair.key)

    # --- processes ------------------------------------------------------------------------
    def _start(self, name: str, argv: list[str]) -> Component:
        component = Component(name, argv, self.logs / f"{name}.log")
        home = self.workdir / "home"  # keeps ~/.kube and ~/.kwok of whoever runs the tests out
        home.mkdir(exist_ok=True)
        component.start(env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)})
        self.components.append(component)
        return component

    def _wait(self, component: Component, url: str, tls: bool = True) -> None:
        context = health.tls_context(self.ca.cert, self.admin) if tls else None
        health.wait_until(component.name, lambda: health.get(url, context)[0] == 200, component.running, READY_TIMEOUT)

    def start(self) -> None:
        sweep_stale(self.workdir.parent)
        try:
            self._start_all()
        except Exception as err:
            report = self.report()
            self.stop()
            raise RuntimeError(f"the control plane did not start: {err}\n{report}") from err

    def _start_all(self) -> None:
        self._credentials()
        ports, bin_dir, ca = self.ports, self.bin_dir, self.ca.cert
        etcd = self._start("etcd", components.etcd(bin_dir, self.workdir / "etcd", ports))
        self._wait(etcd, f"http://127.0.0.1:{ports.etcd_client}/health", tls=False)
        self.audit = audit.write_policy(self.workdir / "audit")
        apiserver = self._start("kube-apiserver", components.apiserver(
            bin_dir, ports, ca, self.serving, self.service_accounts, self.kubelet_client, self.audit))
        self._wait(apiserver, f"{self.server}/readyz")
        api = self.api()
        kwok.install(api, share(bin_dir))
        serving = self.components_serving
        kcm = self._start("kube-controller-manager", components.controller_manager(
            bin_dir, self.kubeconfigs["kube-controller-manager"], ports, ca, self.service_accounts, serving))
        scheduler = self._start("kube-scheduler", components.scheduler(
            bin_dir, self.kubeconfigs["kube-scheduler"], ports, serving))
        fake_kubelet = self._start("kwok", components.kwok(bin_dir, self.kubeconfigs["kwok"], ports, serving))
        self._wait(kcm, f"https://127.0.0.1:{ports.controller_manager}/healthz")
        self._wait(scheduler, f"https://127.0.0.1:{ports.scheduler}/readyz")
        self._wait(fake_kubelet, f"https://127.0.0.1:{ports.kwok}/healthz")
        # the controllers really run once the serviceaccount controller has made `default`
        core = client.CoreV1Api(api)
        health.wait_until("default ServiceAccount", lambda: bool(
            raw(core.list_namespaced_service_account, "default").get("items")), kcm.running, READY_TIMEOUT)

    def api(self) -> client.ApiClient:
        """A client acting as the admin (group system:masters)."""
        return api_client(self.admin_kubeconfig)

    def pids(self) -> list[int]:
        return [c.pid for c in self.components if c.pid is not None]

    def rss(self) -> dict[str, int]:
        """Resident memory of each running component, in bytes (from /proc)."""
        out = {}
        for c in self.components:
            try:
                status = Path(f"/proc/{c.pid}/status").read_text()
            except OSError:
                continue
            kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            out[c.name] = kb * 1024
        return out

    def report(self, lines: int = 30) -> str:
        """The last lines of every component's log, for a failure message."""
        return "\n".join(f"--- {c.name} ({'running' if c.running() else 'exited'}; {c.log}) ---\n{c.tail(lines)}"
                         for c in [*self.components, *self.clients])

    def stop(self, keep_workdir: bool = False) -> None:
        for component in reversed(self.components):  # clients first, etcd last
            component.stop()
        if not keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def exited(self) -> list[str]:
        """Components that have exited (each should run until stop())."""
        return [c.name for c in self.components if not c.running()]


def start(bin_dir: Path, attempts: int = 2) -> ControlPlane:
    """A started control plane; a start that failed (a free port taken meanwhile, say) is retried
    on new ports."""
    for attempt in range(1, attempts + 1):
        plane = ControlPlane(bin_dir)
        try:
            plane.start()
            return plane
        except RuntimeError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


T = TypeVar("T")


def wait_for(what: str, predicate: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.2) -> T:
    """Poll `predicate()` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout:.0f} s")
        time.sleep(interval)
