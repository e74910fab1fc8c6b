"""`rejoinder render` prints what the operator would create; for every example and for the longest
name the CRD accepts, every object is one a real apiserver (and mpi-operator) accepts."""

from __future__ import annotations

import copy
import io
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from k8s_emulator.admission import KUBERNETES_VERSION, admit_builtin

from rejoinder.cli import main
from rejoinder.operator import child_kinds
from tests.support import mpijob_schema

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
LONGEST = ["a" * 63, "9" + "z" * 62]  # 63 characters; a digit first is a valid DNS-1123 label too


def render(path: Path, *extra: str) -> list[dict[str, Any]]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["render", "-f", str(path), *extra]) == 0
    return [d for d in yaml.safe_load_all(out.getvalue()) if d]


def renamed(example: Path, name: str, tmp_path: Path) -> Path:
    doc = yaml.safe_load(example.read_text())
    doc["metadata"]["name"] = name
    if ((doc["spec"].get("model") or {}).get("init") or {}).get("dialogModel"):
        # a model cannot start from itself: the pretraining model gets another name of the same length
        doc["spec"]["model"]["init"]["dialogModel"] = name[:-1] + ("b" if name[-1] != "b" else "c")
    target = tmp_path / f"{name[:8]}-{example.name}"
    target.write_text(yaml.safe_dump(doc))
    return target


def assert_accepted(doc: dict[str, Any]) -> None:
    if doc["kind"] == "MPIJob":
        assert mpijob_schema.problems(doc) == [], doc["metadata"]["name"]
        for role, replica in doc["spec"]["mpiReplicaSpecs"].items():
            template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": doc["metadata"]["name"]},
                        "template": replica["template"]}
            assert admit_builtin("", "podtemplates", template) == [], role
        return
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    group, plural = child_kinds.of(doc["kind"]).group, child_kinds.of(doc["kind"]).plural
    causes = admit_builtin(group, plural, copy.deepcopy(doc))  # names, labels, quantities, requests <= limits
    assert causes == [], f"{doc['kind']} {doc['metadata']['name']}: {causes}"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_render_of_every_example_is_accepted(example: Path) -> None:
    docs = render(example)
    assert docs, "nothing rendered"
    for doc in docs:
        assert_accepted(doc)


@pytest.mark.parametrize("name", LONGEST, ids=["letters", "digit-first"])
@pytest.mark.parametrize("example", [p for p in EXAMPLES if p.stem in ("retrieval", "reranking", "quickstart")],
                         ids=lambda p: p.stem)
def test_render_for_the_longest_names_is_accepted(example: Path, name: str, tmp_path: Path) -> None:
    for doc in render(renamed(example, name, tmp_path)):
        assert len(doc["metadata"]["name"]) <= 63
        assert_accepted(doc)


def test_phases_select_the_objects_of_one_phase() -> None:
    retrieval = REPO / "examples" / "retrieval.yaml"
    assert [d["kind"] for d in render(retrieval, "--phase", "training")] == ["ConfigMap", "MPIJob"]
    assert [d["kind"] for d in render(retrieval, "--phase", "indexing")] == ["Job"]
    assert [d["kind"] for d in render(retrieval, "--phase", "serving")] == ["Deployment", "Service", "Service", "PodDisruptionBudget"]
    everything = render(retrieval)
    assert len(everything) == 7 and all(d["metadata"]["namespace"] == "dialog" for d in everything)


def test_render_uses_the_operators_builders() -> None:
    """The same objects the planner creates for a first rollout (the rollout time aside)."""
    from datetime import datetime, timezone

    from rejoinder.api import load_dialog_model
    from rejoinder.operator.children import ParsedDialogModel
    from rejoinder.operator.manifests import render as manifests
    from rejoinder.operator.planner import Observed, plan
    from rejoinder.operator.settings import OperatorSettings
    from rejoinder.api.status import DialogModelStatus

    dm = load_dialog_model(REPO / "examples" / "reranking.yaml")
    model = ParsedDialogModel(name=dm.metadata.name, namespace="default", uid="u", spec=dm.spec)
    settings = OperatorSettings()
    first = plan(model, DialogModelStatus(), Observed(), settings, datetime.now(timezone.utc))
    rendered = manifests(model, settings, ("training",))
    assert rendered == first.create


def test_render_refuses_an_invalid_file(tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: rejoinder.dev/v1alpha1\nkind: DialogModel\nmetadata: {name: Bad_Name}\nspec: {task: retrieval}\n")
    with pytest.raises(SystemExit) as exited:
        main(["render", "-f", str(bad)])
    assert exited.value.code == 2 and "metadata.name" in capsys.readouterr().err


def test_the_mpijob_check_can_fail() -> None:
    """mpi-operator's real CRD is checked as with fieldValidation=Strict (it would prune the typo
    silently otherwise), pod templates by the CRD's own schema, then mpi-operator's validation
    and its derived names."""
    mpi = next(d for d in render(REPO / "examples" / "retrieval.yaml", "--phase", "training") if d["kind"] == "MPIJob")
    assert mpijob_schema.problems(mpi) == []
    typo = copy.deepcopy(mpi)
    typo["spec"]["slotPerWorker"] = 8
    assert any("slotPerWorker" in p for p in mpijob_schema.problems(typo))
    bad_pod = copy.deepcopy(mpi)
    bad_pod["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert any("imagePullPolicyy" in p for p in mpijob_schema.problems(bad_pod))
    always = copy.deepcopy(mpi)  # the CRD allows any string; mpi-operator's validation does not
    always["spec"]["mpiReplicaSpecs"]["Worker"]["restartPolicy"] = "Always"
    assert any("restartPolicy" in p for p in mpijob_schema.problems(always))
    long_name = copy.deepcopy(mpi)
    long_name["metadata"]["name"] = "a" * 60
    assert any("-launcher" in p for p in mpijob_schema.problems(long_name))


@pytest.mark.parametrize("engine, kind", [("hpa", "HorizontalPodAutoscaler"), ("keda", "ScaledObject")])
@pytest.mark.parametrize("name", LONGEST[:1] + ["reranker"], ids=["longest", "short"])
def test_render_of_the_autoscaling_engines_is_accepted(engine: str, kind: str, name: str, tmp_path: Path) -> None:
    from tests.operator.test_operator_scaling_objects import keda_strict

    doc = yaml.safe_load((REPO / "examples" / "reranking.yaml").read_text())
    doc["metadata"]["name"] = name
    doc["spec"]["serving"]["autoscaling"] = {"engine": engine}
    path = tmp_path / "dm.yaml"
    path.write_text(yaml.safe_dump(doc))
    docs = render(path, "--phase", "serving")
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "Service", "PodDisruptionBudget", kind]
    scaling = docs[-1]
    if kind == "ScaledObject":
        keda_strict(scaling)
        assert not admission_name_problems(scaling["metadata"]["name"])
    else:
        kubernetes_validate.validate(scaling, KUBERNETES_VERSION, strict=True)
        assert admit_builtin("autoscaling", "horizontalpodautoscalers", copy.deepcopy(scaling)) == []
    for other in docs[:-1]:
        assert_accepted(other)


def admission_name_problems(name: str) -> list[str]:
    from k8s_emulator.admission import dns1123_subdomain

    return dns1123_subdomain(name)
