"""Invalid DialogModels fail with a message naming the field, in `rejoinder validate` (typed model)
and in the CRD (schema + CEL), so users get the same answer locally and from the apiserver."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from rejoinder.api import InvalidDialogModel, parse_dialog_model
from rejoinder.api.crd import dialog_model_crd
from rejoinder.cli import main
from tests.support.crd_schema import crd_problems

SCHEMA = dialog_model_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]

BASE: dict[str, Any] = {
    "apiVersion": "rejoinder.dev/v1alpha1",
    "kind": "DialogModel",
    "metadata": {"name": "base"},
    "spec": {"task": "retrieval", "data": {"preset": "chatterbot"}},
}


def _set(obj: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        obj = obj.setdefault(key, {})
    if value is _DELETE:
        obj.pop(last, None)
    else:
        obj[last] = value


_DELETE = object()

# (id, {dotted path: value}, the field path the error must name)
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("wrong-task-enum", {"spec.task": "generation"}, "spec.task"),
    ("negative-replicas", {"spec.serving.minReplicas": -1}, "spec.serving.minReplicas"),
    ("min-over-max-replicas", {"spec.serving.minReplicas": 5, "spec.serving.maxReplicas": 2}, "spec.serving.minReplicas"),
    ("seq-length-over-512", {"spec.model.bert.maxSeqLength": 1024}, "spec.model.bert.maxSeqLength"),
    ("reranker-lengths-over-max", {"spec.task": "reranking", "spec.model.bert.contextLength": 70}, "spec.model.bert.contextLength"),
    ("pretraining-served", {"spec.task": "pretraining"}, "spec.serving.enabled"),
    ("unknown-field", {"spec.serving.replicas": 3}, "spec.serving.replicas"),
    ("wrong-architecture", {"spec.model.architecture": "gpt"}, "spec.model.architecture"),
    ("hidden-not-divisible-by-heads", {"spec.model.bert.hidden": 100, "spec.model.bert.heads": 3}, "spec.model.bert.heads"),
    ("two-init-sources", {"spec.model.init": {"googleCheckpoint": "/c/bert_model.ckpt", "huggingFace": "/hf"},
                          "spec.tokenizer.kind": "wordpiece"}, "spec.model.init.googleCheckpoint"),
    ("pretrained-init-with-bpe", {"spec.model.init": {"huggingFace": "/hf"}}, "spec.tokenizer.kind"),
    ("wordpiece-without-vocab", {"spec.tokenizer.kind": "wordpiece"}, "spec.tokenizer.vocabFile"),
    ("no-training-data", {"spec.data": {}}, "spec.data.train"),
    ("steps-and-epochs", {"spec.training.steps": 10, "spec.training.epochs": 1}, "spec.training.epochs"),
    ("nprobe-over-nlist", {"spec.index.kind": "ivf", "spec.index.ivf": {"nlist": 16, "nprobe": 32}}, "spec.index.ivf.nprobe"),
    ("top-k-zero", {"spec.serving.topK": 0}, "spec.serving.topK"),
    ("int8-on-tensorflow", {"spec.serving.runtime": "tensorflow", "spec.serving.mixedPrecision": "int8"},
     "spec.serving.mixedPrecision"),
    ("float16-on-onnxruntime", {"spec.serving.runtime": "onnxruntime", "spec.serving.mixedPrecision": "float16"},
     "spec.serving.mixedPrecision"),
    ("unknown-runtime", {"spec.serving.runtime": "tensorrt"}, "spec.serving.runtime"),
    ("int8-training", {"spec.training.mixedPrecision": "int8"}, "spec.training.mixedPrecision"),
    ("min-recall-over-one", {"spec.index.minRecall": 1.5}, "spec.index.minRecall"),
    ("gate-metric-of-another-task", {"spec.rollout.qualityGate": {"metric": "accuracy"}}, "spec.rollout.qualityGate.metric"),
    ("gain-gate-without-a-start", {"spec.rollout.qualityGate": {"metric": "recall@5", "minGainOverStart": 0.05}},
     "spec.rollout.qualityGate.minGainOverStart"),
    ("gain-gate-on-reranking", {"spec.task": "reranking", "spec.model.init": {"dialogModel": "bert"},
                                "spec.rollout.qualityGate": {"metric": "accuracy", "minGainOverStart": 0.05}},
     "spec.rollout.qualityGate.minGainOverStart"),
    ("negative-queue-delay", {"spec.serving.batching.maxQueueDelayMs": -1}, "spec.serving.batching.maxQueueDelayMs"),
    ("repeated-sequence-bucket", {"spec.serving.batching.sequenceBuckets": [16, 32, 16]},
     "spec.serving.batching.sequenceBuckets"),
    ("zero-sequence-bucket", {"spec.serving.batching.sequenceBuckets": [0, 32]}, "spec.serving.batching.sequenceBuckets[0]"),
    ("zero-token-budget", {"spec.serving.batching.maxBatchTokens": 0}, "spec.serving.batching.maxBatchTokens"),
    ("zero-learning-rate", {"spec.training.learningRate": 0}, "spec.training.learningRate"),
    ("reranker-for-reranking", {"spec.task": "reranking", "spec.serving.reranker": "other"}, "spec.serving.reranker"),
    ("init-with-qa-lstm", {"spec.model.architecture": "qa-lstm", "spec.model.init": {"dialogModel": "bert"}}, "spec.model.init"),
    ("bad-name", {"metadata.name": "Bad_Name"}, "metadata.name"),
    ("too-many-gpus", {"spec.training.gpusPerWorker": 64}, "spec.training.gpusPerWorker"),
    ("eval-fraction-too-big", {"spec.data.evalFraction": 0.7}, "spec.data.evalFraction"),
    ("bad-toleration-operator", {"spec.training.tolerations": [{"key": "gpu", "operator": "Maybe"}]},
     "spec.training.tolerations[0].operator"),
    ("task-missing", {"spec.task": _DELETE}, "spec.task"),
    ("reactions-from-on-retrieval", {"spec.data.reactionsFrom": {"dialogModel": "chat", "until": "2026-12-01T00:00:00Z"}},
     "spec.data.reactionsFrom"),
    ("reactions-from-itself", {"spec.task": "reranking",
                               "spec.data.reactionsFrom": {"dialogModel": "base", "until": "2026-12-01T00:00:00Z"}},
     "spec.data.reactionsFrom.dialogModel"),
    ("negatives-from-itself", {"spec.task": "reranking", "spec.data.negativesFrom": "base"}, "spec.data.negativesFrom"),
    ("init-from-itself", {"spec.model.init": {"dialogModel": "base"}}, "spec.model.init.dialogModel"),
    ("contrastive-loss-on-reranking", {"spec.task": "reranking", "spec.training.contrastiveLoss": {"symmetric": False}},
     "spec.training.contrastiveLoss"),
    # integers under a fractional minimum: the apiserver's OpenAPI check alone lets them through
    # (it compares with int64(0.005) = 0); the CRD's CEL twin of the bound refuses them
    ("temperature-zero", {"spec.training.contrastiveLoss": {"temperature": 0}}, "spec.training.contrastiveLoss.temperature"),
    ("canary-confidence-zero", {"spec.rollout.canary": {"confidence": 0}}, "spec.rollout.canary.confidence"),
    ("reactions-from-with-train", {"spec.task": "reranking", "spec.data": {
        "train": "r.jsonl", "reactionsFrom": {"dialogModel": "chat", "until": "2026-12-01T00:00:00Z"}}},
     "spec.data.reactionsFrom"),
    ("reactions-until-not-a-time", {"spec.task": "reranking",
                                    "spec.data.reactionsFrom": {"dialogModel": "chat", "until": "yesterday"}},
     "spec.data.reactionsFrom.until"),
    ("reactions-until-without-a-zone", {"spec.task": "reranking",
                                        "spec.data.reactionsFrom": {"dialogModel": "chat", "until": "2026-12-01T00:00:00"}},
     "spec.data.reactionsFrom.until"),
    ("reactions-until-with-a-space", {"spec.task": "reranking",
                                      "spec.data.reactionsFrom": {"dialogModel": "chat", "until": "2026-12-01 00:00:00Z"}},
     "spec.data.reactionsFrom.until"),
    ("reactions-until-a-number", {"spec.task": "reranking",
                                  "spec.data.reactionsFrom": {"dialogModel": "chat", "until": 1796083200}},
     "spec.data.reactionsFrom.until"),
    ("reactions-minimum-zero", {"spec.task": "reranking", "spec.data.reactionsFrom": {
        "dialogModel": "chat", "until": "2026-12-01T00:00:00Z", "minReactions": 0}}, "spec.data.reactionsFrom.minReactions"),
]


def _doc(changes: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        _set(doc, dotted, value)
    return doc


def test_base_is_valid() -> None:
    parse_dialog_model(BASE)
    assert crd_problems(SCHEMA, BASE) == []


@pytest.mark.parametrize("data", [
    {"reactionsFrom": {"dialogModel": "chat", "until": "2026-12-01T00:00:00Z"}},
    {"preset": "chatterbot", "negativesFrom": "chat", "reactionsFrom": {"dialogModel": "chat", "until": "2026-12-01T00:00:00+01:00"}},
])
def test_a_reranker_may_train_on_a_retrieval_models_reactions(data: dict[str, Any]) -> None:
    doc = _doc({"spec.task": "reranking", "spec.data": data})
    parse_dialog_model(doc)
    assert crd_problems(SCHEMA, doc) == []


def test_there_are_at_least_15_distinct_cases() -> None:
    assert len({c[0] for c in CASES}) >= 15


@pytest.mark.parametrize("changes,field", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_typed_model_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidDialogModel) as error:
        parse_dialog_model(_doc(changes), "case.yaml")
    paths = [p.path for p in error.value.problems]
    assert field in paths, paths


@pytest.mark.parametrize("changes,field", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_crd_rejects_it_too(changes: dict[str, Any], field: str) -> None:
    problems = crd_problems(SCHEMA, _doc(changes))
    assert problems, "the apiserver would accept this"
    leaf = field.rsplit(".", 1)[-1].split("[")[0]
    assert any(leaf in path or leaf in message for path, message in problems), problems


@pytest.mark.parametrize("changes,field", [c[1:] for c in CASES[:6]], ids=[c[0] for c in CASES[:6]])
def test_validate_verb_exits_1_naming_the_field(tmp_path: Path, capsys, changes: dict[str, Any], field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_doc(changes)))
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: {field}: " in err


def test_validate_reports_every_bad_document_of_a_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(_doc({"spec.task": "x"})) + "---\n" + yaml.safe_dump(_doc({"spec.serving.topK": 0})))
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}#0: spec.task" in err and f"{path}#1: spec.serving.topK" in err


def test_validate_reports_broken_yaml_and_missing_files(tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("spec: [unclosed\n")
    assert main(["validate", str(broken), str(tmp_path / "missing.yaml")]) == 1
    err = capsys.readouterr().err
    assert "(yaml)" in err and "no such file" in err
