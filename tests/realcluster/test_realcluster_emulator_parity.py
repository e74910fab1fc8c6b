"""The API emulator (tests/k8s_emulator, the fast tests' apiserver) measured against the real one:
each scenario of parity/scenarios.py runs against both and their transcripts must agree. Each
difference these scenarios found was fixed in the emulator (its docstring lists what it does and
what it leaves out); a new difference fails here until it is fixed or the scenario stops
depending on something the docstring says is not emulated."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.controlplane import crds, etcd, health
from tests.controlplane.cluster import ControlPlane
from tests.k8s_emulator import EmulatorThread
from tests.realcluster.parity import scenarios
from tests.realcluster.parity.target import Target

pytestmark = pytest.mark.realcluster
REPEATED = ("labelSelector", "a number under minimum 0.5")  # steps taken once per value: keyed by it


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread() as emu:
        emu.client.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", scenarios.WIDGET_CRD)
        yield emu


@pytest.fixture(scope="module")
def widgets_crd(control_plane: ControlPlane) -> None:
    crds.install(control_plane.api(), [scenarios.WIDGET_CRD])


def targets(control_plane: ControlPlane, emulator: EmulatorThread) -> tuple[Target, Target]:
    real = Target("apiserver", control_plane.server, health.tls_context(control_plane.ca.cert, control_plane.admin),
                  compact=lambda: etcd.compact(control_plane.ports.etcd_client))
    emulated = Target("emulator", emulator.url, compact=lambda: emulator.call(emulator.emulator.compact))
    return real, emulated


@pytest.mark.parametrize("scenario", list(scenarios.SCENARIOS))
def test_the_emulator_answers_as_the_apiserver(control_plane: ControlPlane, emulator: EmulatorThread,
                                               widgets_crd: None, namespace: str, scenario: str) -> None:
    real, emulated = targets(control_plane, emulator)
    emulated.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": namespace}})
    by_step: dict[str, list[tuple[Any, ...]]] = {}
    for target in (real, emulated):
        for observation in scenarios.SCENARIOS[scenario](target, namespace):
            step = str(observation[0]) + (f" {observation[1]}" if observation[0] in REPEATED else "")
            by_step.setdefault(step, []).append(observation)
    differences = [f"{step}:\n  apiserver: {seen[0]}\n  emulator:  {seen[1:]}"
                   for step, seen in by_step.items() if len(seen) != 2 or seen[0] != seen[1]]
    assert not differences, "\n".join(differences)
