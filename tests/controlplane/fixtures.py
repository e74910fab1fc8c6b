"""pytest fixtures for the real control plane. A conftest brings them in with

    from tests.controlplane.fixtures import *  # noqa: F401,F403

`control_plane` is one cluster for the whole session (it takes about a minute to start);
`namespace` gives each test its own namespace, deleted afterwards. Without built binaries the
tests skip with the command that builds them, unless REJOINDER_REQUIRE_CONTROL_PLANE=1 (CI),
where they fail. A failing test's report carries the tail of every component's log."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Generator, Iterator

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from . import binaries, cluster, nodes
from .cluster import ControlPlane
from .kube import raw

REQUIRE = "REJOINDER_REQUIRE_CONTROL_PLANE"
# The nodes every test finds: GPU nodes for the training pods, a CPU node for the rest.
# GPU nodes carry the product label that NVIDIA's GPU feature discovery sets (examples/pretraining.yaml
# selects it).
GPU_PRODUCT = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
NODES = (nodes.node("gpu-node-0", gpus=8, labels=GPU_PRODUCT), nodes.node("gpu-node-1", gpus=8, labels=GPU_PRODUCT),
         nodes.node("cpu-node-0"))

__all__ = ["control_plane", "namespace", "pytest_runtest_makereport"]


def require_binaries() -> Path:
    """The built control plane's bin directory; skips the test without one (fails it in CI)."""
    bin_dir, why = binaries.find()
    if bin_dir is None:
        message = f"the real control plane is not built ({why}); build it with `{binaries.BUILD_COMMAND}`"
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{REQUIRE}=1 but {message}", pytrace=False)
        pytest.skip(message)
    return bin_dir


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    plane = cluster.start(require_binaries())
    try:
        nodes.create(plane.api(), [dict(n) for n in NODES])
        yield plane
    finally:
        plane.stop()


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test (tests share the cluster, not their objects)."""
    stem = "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())[:40].strip("-")
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(control_plane.api())
    raw(core.create_namespace, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        try:  # the namespace controller finishes the deletion in the background
            core.delete_namespace(name)
        except ApiException:
            pass


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, pytest.TestReport,
                                                                                          pytest.TestReport]:
    report = yield
    plane = getattr(item, "funcargs", {}).get("control_plane")
    if report.failed and isinstance(plane, ControlPlane):
        report.sections.append(("control plane logs", plane.report()))
    return report
