"""operator/child_kinds.py is the one list of the kinds a DialogModel's children have: every
object the operator builds is in it with its real API version and plural, the kopf registry
indexes and watches exactly what it says, and the chart grants each kind exactly its verbs."""

from __future__ import annotations

import gzip
import importlib.resources
import json
from pathlib import Path

import yaml
from test_operator_planner import SETTINGS, model, spec

from rejoinder.operator import child_kinds, manifests, names
from rejoinder.operator.child_kinds import CHILD_KINDS, Cleanup
from rejoinder.operator.handlers import MANAGED, build_registry

REPO = Path(__file__).resolve().parents[2]
# What a cluster without the optional CRDs cannot tell us: MPI Operator's and KEDA's own names.
EXTERNAL = {("kubeflow.org/v2beta1", "mpijobs"): "MPIJob", ("keda.sh/v1alpha1", "scaledobjects"): "ScaledObject"}


def _discovery() -> dict[tuple[str, str], tuple[str, bool]]:
    """(apiVersion, plural) → (kind, namespaced), from Kubernetes' discovery documents (bundled with kmock)."""
    data = importlib.resources.files("kmock._internal").joinpath("resources.json.gz").read_bytes()
    return {(doc["groupVersion"], r["name"]): (r["kind"], r["namespaced"])
            for doc in json.loads(gzip.decompress(data)) for r in doc["resources"] if "/" not in r["name"]}


def test_each_row_names_a_real_api_version_kind_and_plural() -> None:
    discovery = _discovery()
    for row in CHILD_KINDS:
        key = (row.api_version, row.plural)
        if key in EXTERNAL:
            assert EXTERNAL[key] == row.kind and row.optional_api and row.namespaced
            continue
        assert key in discovery, f"{row.kind}: Kubernetes serves no {row.plural} in {row.api_version}"
        assert discovery[key] == (row.kind, row.namespaced), row.kind
        assert not row.optional_api, f"{row.kind} is built in: no discovery question needed"


def test_every_object_the_operator_builds_is_a_row_of_the_table() -> None:
    built: set[str] = set()
    for serving, training in (({}, {}), ({"autoscaling": {"engine": "hpa"}}, {"workers": 2}),
                              ({"autoscaling": {"engine": "keda"}}, {})):
        for obj in manifests.render(model(spec(serving=serving, training=training)), SETTINGS):
            assert child_kinds.type_meta(obj["kind"]) == {"apiVersion": obj["apiVersion"], "kind": obj["kind"]}
            built.add(obj["kind"])
    assert built == {k.kind for k in CHILD_KINDS} - {"Pod"}  # pods are made by Jobs and Deployments


def test_the_kopf_registry_indexes_and_watches_what_the_table_says() -> None:
    registry, _ = build_registry(SETTINGS)
    indexes = {(h.id, h.selector.group, h.selector.version, h.selector.any_name)
               for h in registry._indexing.get_all_handlers() if h.labels == MANAGED}
    assert indexes == {(k.index, k.group, k.version, k.plural) for k in CHILD_KINDS if k.index}
    watched = {(h.selector.group, h.selector.version, h.selector.any_name)
               for h in registry._watching.get_all_handlers() if h.labels == MANAGED}
    assert watched == {(k.group, k.version, k.plural) for k in CHILD_KINDS if k.reconcile_on_change}
    assert all(k.index for k in CHILD_KINDS if k.reconcile_on_change), "child events are read from the indexes"


def test_kinds_deleted_with_their_model_are_the_ones_it_creates() -> None:
    deleted = {k.kind for k in CHILD_KINDS if k.cleanup == Cleanup.DELETE}
    assert deleted == {"Deployment", "Service", "PodDisruptionBudget", "Job", "ConfigMap", "MPIJob"}
    assert all("delete" in k.verbs for k in CHILD_KINDS if k.cleanup == Cleanup.DELETE)
    assert all("list" in k.verbs for k in CHILD_KINDS if k.cleanup == Cleanup.DELETE and not k.index)


def test_the_chart_grants_each_child_kind_exactly_its_verbs() -> None:
    rules = yaml.safe_load((REPO / "helm" / "rejoinder" / "files" / "operator-permissions.yaml").read_text())["rules"]
    granted = {(r["apiGroup"], r["resource"]): sorted(r["verbs"]) for r in rules}
    for row in CHILD_KINDS:
        assert granted.get((row.group, row.plural)) == sorted(row.verbs), row.kind
        if row.index:
            assert {"list", "watch"} <= set(row.verbs), f"kopf's index of {row.kind} lists and watches"


def test_managed_label_is_the_one_the_children_carry() -> None:
    assert names.labels("m", names.COMPONENT_SERVER)[names.LABEL_MANAGED_BY] == MANAGED[names.LABEL_MANAGED_BY]
