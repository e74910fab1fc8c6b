"""Tests against the real control plane (tests/controlplane): one cluster for the session, a
namespace for each test; the chart installed once with the real helm, and for a test that asks,
the operator as a real process with the chart's ServiceAccount token, reconciling its namespace.

The `operator` fixture fails the test when the apiserver refused any request the operator made
(the audit log: tests/controlplane/audit.py), so a verb missing from the chart's RBAC cannot hide
behind kopf's retries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.controlplane import audit, crds, kwok
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.fixtures import *  # noqa: F401,F403  (fixtures and the failure-report hook)
from tests.realcluster import chart as chart_install
from tests.realcluster.chart import Release
from tests.realcluster.model_metrics import ModelMetrics
from tests.realcluster.operator_process import OperatorProcess
from tests.realcluster.storage import bound_claim

THIRD_PARTY = Path(__file__).resolve().parents[1] / "support" / "third_party_crds"
# What every training and index pod of an `operator` test ends with: the trainer's last lines
# (rejoinder/progress_lines.py) in its log and its metrics line as its termination message.
METRICS = {"recall@1": 0.31, "recall@5": 0.62, "mrr": 0.45, "roc_auc": 0.81, "accuracy": 0.74,
           "masked_lm_accuracy": 0.52}
TRAINING_LOG = ("REJOINDER_PROGRESS step=100 total=100 loss=0.4210 examples_per_sec=812.5\n"
                f"REJOINDER_METRICS {json.dumps(METRICS)}\n")


@pytest.fixture(scope="session")
def model_metrics() -> Iterator[ModelMetrics]:
    with ModelMetrics() as served:
        yield served


@pytest.fixture(scope="session")
def third_party_crds(control_plane: ControlPlane) -> list[str]:
    """MPIJob, ScaledObject, ServiceMonitor and PrometheusRule, as their projects ship them."""
    provenance = json.loads((THIRD_PARTY / "provenance.json").read_text())["files"]
    return crds.install(control_plane.api(), [doc for e in provenance for doc in crds.load(THIRD_PARTY / e["file"])])


@pytest.fixture(scope="session")
def chart(control_plane: ControlPlane, model_metrics: ModelMetrics, third_party_crds: list[str],
          tmp_path_factory: pytest.TempPathFactory) -> Release:
    """`helm install` of the chart, once per session (its CRD and ClusterRole are cluster-wide).
    Values: shorter periods, so that tests wait less, and the model servers' metrics URL."""
    values = {"operator": {"resyncSeconds": 2, "autoscaleSeconds": 2,
                           "modelServerMetricsUrl": model_metrics.url_template}}
    return chart_install.install(control_plane.admin_kubeconfig, tmp_path_factory.mktemp("helm"), values)


@pytest.fixture(scope="session")
def chart_environment(control_plane: ControlPlane, chart: Release) -> dict[str, str]:
    return chart_install.operator_environment(control_plane.api(), chart)


StartOperator = Callable[..., OperatorProcess]


@pytest.fixture
def start_operator(control_plane: ControlPlane, chart: Release, chart_environment: dict[str, str], namespace: str,
                   tmp_path: Path) -> Iterator[StartOperator]:
    """`start_operator(**chart_values_env)`: the operator process for this test's namespace, with
    the chart's environment (REJOINDER_* variables given as keywords replace the chart's, as a
    value of the chart would). Every request it made must have been allowed: the audit log's 403s
    for its user fail the test."""
    log = audit.AuditLog(control_plane.audit.log).mark()
    started: list[OperatorProcess] = []

    def start(**environment: str) -> OperatorProcess:
        process = OperatorProcess(control_plane, chart, namespace, tmp_path, {**chart_environment, **environment},
                                  name=f"operator{len(started) or ''}")
        started.append(process)
        return process.start()

    try:
        yield start
    finally:
        for process in started:
            process.stop()
    refused = log.refused(chart.user)
    assert not refused, "the apiserver refused the operator (the chart's RBAC lacks these):\n" + \
        "\n".join(map(str, refused))


@pytest.fixture
def operator(start_operator: StartOperator) -> OperatorProcess:
    """The operator with the chart's settings (start_operator's checks apply)."""
    return start_operator()


@pytest.fixture
def artifacts(control_plane: ControlPlane, namespace: str) -> Iterator[str]:
    """The examples' claim `rejoinder-artifacts`, Bound."""
    with bound_claim(control_plane.api(), namespace, "rejoinder-artifacts") as name:
        yield name


@pytest.fixture
def training_results(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> Iterator[dict[str, float]]:
    """Job pods of the namespace finish with METRICS as their termination message and
    TRAINING_LOG as their log (kwok serves it through pods/log); the metrics they carry."""
    api = control_plane.api()
    with kwok.pod_outcome(api, namespace, message=f"REJOINDER_METRICS {json.dumps(METRICS)}"), \
            kwok.pod_logs(api, namespace, tmp_path / "training.log", TRAINING_LOG):
        yield METRICS
