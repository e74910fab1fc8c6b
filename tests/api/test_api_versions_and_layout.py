"""Model versions change exactly with training-relevant fields; the package layout is safe."""

from __future__ import annotations

import importlib
import subprocess
import sys

from rejoinder.api import parse_dialog_model
from rejoinder.api.versioning import index_version, model_version
from rejoinder.artifacts import ModelLayout


def _spec(**spec_overrides):
    spec = {"task": "retrieval", "data": {"preset": "chatterbot"}}
    spec.update(spec_overrides)
    return parse_dialog_model({"metadata": {"name": "m"}, "spec": spec}).spec


def test_serving_and_placement_changes_keep_the_version() -> None:
    base = model_version(_spec())
    assert model_version(_spec(serving={"maxReplicas": 9, "topK": 5})) == base
    assert model_version(_spec(rollout={"progressDeadlineSeconds": 60})) == base
    assert model_version(_spec(training={"image": "x:1", "nodeSelector": {"a": "b"}})) == base
    assert model_version(_spec(index={"kind": "hnsw"})) == base


def test_training_relevant_changes_make_a_new_version() -> None:
    base = model_version(_spec())
    assert model_version(_spec(training={"learningRate": 1e-3})) != base
    assert model_version(_spec(model={"bert": {"layers": 2}})) != base
    assert model_version(_spec(task="reranking")) != base
    assert model_version(_spec(tokenizer={"vocabSize": 1000})) != base


def test_defaults_written_or_not_give_the_same_version() -> None:
    assert model_version(_spec()) == model_version(_spec(training={"xla": True, "workers": 1}))


def test_a_reranker_on_users_reactions_is_a_new_version_only_when_its_cutoff_moves() -> None:
    def reranker(until: str, **source) -> str:
        data = {"reactionsFrom": {"dialogModel": "chat", "until": until, **source}}
        return model_version(_spec(task="reranking", data=data))

    base = reranker("2026-12-02T04:00:00Z")
    assert reranker("2026-12-02T04:00:00Z") == base  # the same spec: the same version, anywhere
    assert reranker("2026-12-02T05:00:00+01:00") == base  # the same instant written in another zone
    assert reranker("2026-12-02T04:00:00Z", minReactions=50) == base  # the default written out
    assert reranker("2026-12-02T05:00:00Z") != base  # bumped until: retrain on what users said since
    assert reranker("2026-12-02T04:00:00Z", minReactions=10) != base


def test_index_version_follows_index_settings_and_model() -> None:
    base = index_version(_spec())
    assert index_version(_spec(index={"kind": "hnsw"})) != base
    assert index_version(_spec(training={"learningRate": 1e-3})) != base
    assert index_version(_spec(serving={"topK": 3})) == base


def test_artifact_layout_is_versioned(tmp_path) -> None:
    spec = _spec()
    layout = ModelLayout.for_model(tmp_path, "ns", "m").for_spec(spec)
    assert layout.root == tmp_path / "ns" / "m" / "versions" / model_version(spec)
    assert layout.manifest_file.parent == layout.export_dir
    assert not layout.trained


def test_operator_package_never_shadows_the_stdlib() -> None:
    importlib.import_module("rejoinder.operator")
    code = "import operator, rejoinder.operator; assert operator.add(1, 2) == 3; print(operator.__name__)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd="/")
    assert out.stdout.strip() == "operator"


def test_cli_lists_its_verbs() -> None:
    out = subprocess.run([sys.executable, "-m", "rejoinder", "--help"], check=True, capture_output=True, text=True)
    for verb in ("validate", "crd", "version"):
        assert verb in out.stdout
