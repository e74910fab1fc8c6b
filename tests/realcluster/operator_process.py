"""The operator as a real process (`rejoinder operator`), out of cluster, logged in with a token
minted through the TokenRequest API for the chart's ServiceAccount: it has exactly the chart's
RBAC. Its environment is the chart's (chart.operator_environment); only its ports and the
namespace it reconciles (each test has its own) are set here. It dies with the test run
(tests/controlplane/processes.py: PR_SET_PDEATHSIG)."""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.request
from pathlib import Path
from typing import Optional

from prometheus_client.parser import text_string_to_metric_families

from tests.controlplane import health, tokens
from tests.controlplane.cluster import ControlPlane, free_ports
from tests.controlplane.processes import Component
from tests.realcluster.chart import Release

START_TIMEOUT = 120.0  # imports and kopf's first lists on 2 busy cores


def rejoinder_command() -> list[str]:
    script = Path(sys.executable).parent / "rejoinder"  # the console script of this virtualenv
    return [str(script)] if script.exists() else [sys.executable, "-m", "rejoinder"]


class OperatorProcess:
    def __init__(self, plane: ControlPlane, release: Release, namespace: str, workdir: Path,
                 environment: dict[str, str], name: str = "operator") -> None:
        self.plane, self.release, self.namespace = plane, release, namespace
        self.workdir = workdir
        self.environment = environment
        self.name = name
        self.starts = 0
        self.component: Optional[Component] = None
        self.health_port = self.metrics_port = 0

    def start(self) -> "OperatorProcess":
        """Start (or start again, after kill()) with a freshly minted token; wait until kopf's
        liveness endpoint answers."""
        self.starts += 1
        kubeconfig = tokens.service_account_kubeconfig(
            self.plane.api(), self.plane.server, self.plane.ca.cert, self.workdir / f"{self.name}.kubeconfig",
            self.release.namespace, self.release.service_account)
        self.health_port, self.metrics_port = free_ports(2)
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        env = {**self.environment, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
               "PYTHONSAFEPATH": "1", "KUBECONFIG": str(kubeconfig),
               "REJOINDER_HEALTH_PORT": str(self.health_port), "REJOINDER_METRICS_PORT": str(self.metrics_port)}
        argv = [*rejoinder_command(), "operator", "--namespace", self.namespace]
        self.component = Component(f"{self.name}-{self.starts}", argv, self.workdir / f"{self.name}.log")
        self.component.start(env=env)
        self.plane.clients[:] = [c for c in self.plane.clients if not c.name.startswith(f"{self.name}-")]
        self.plane.clients.append(self.component)  # its log goes in a failing test's report
        health.wait_until(f"operator {self.name}", self.healthy, self.component.running, START_TIMEOUT)
        return self

    def healthy(self) -> bool:
        return health.get(f"http://127.0.0.1:{self.health_port}/healthz")[0] == 200

    def running(self) -> bool:
        return self.component is not None and self.component.running()

    def kill(self) -> None:
        """SIGKILL: no handler, no cleanup, as when a node dies under the operator's pod."""
        assert self.component is not None and self.component.process is not None
        os.killpg(self.component.process.pid, signal.SIGKILL)
        self.component.process.wait(30)

    def stop(self) -> None:
        if self.component is not None:
            self.component.stop(grace=10.0)
            if self.component in self.plane.clients:
                self.plane.clients.remove(self.component)

    def log(self, lines: int = 80) -> str:
        return self.component.tail(lines) if self.component else ""

    def reconciles(self) -> float:
        """rejoinder_operator_reconciles_total of this process (both results): a clock that ticks
        once per reconciliation, for "the operator looked again" without waiting for seconds."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        return sum(sample.value for family in text_string_to_metric_families(text)
                   for sample in family.samples if sample.name == "rejoinder_operator_reconciles_total")

    def wait_reconciles(self, more: int, timeout: float = 120.0) -> None:
        """Until this process has reconciled `more` more times than now."""
        target = self.reconciles() + more
        deadline = time.monotonic() + timeout
        while self.reconciles() < target:
            if not self.running() or time.monotonic() > deadline:
                raise AssertionError(f"the operator did not reconcile {more} more times:\n{self.log()}")
            time.sleep(0.2)
