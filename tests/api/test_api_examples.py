"""Every example is valid against the typed model and against the generated CRD schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rejoinder.api import load_dialog_models
from rejoinder.api.crd import dialog_model_crd
from rejoinder.cli import main
from tests.support.crd_schema import crd_problems

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
DOCUMENTS = sum(len(load_dialog_models(p)) for p in EXAMPLES)  # pipeline.yaml holds two
SCHEMA = dialog_model_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_there_is_an_example_per_task_and_a_quickstart() -> None:
    tasks = {m.spec.task.value for path in EXAMPLES for m in load_dialog_models(path)}
    assert tasks == {"retrieval", "reranking", "session-scoring", "pretraining"}
    assert any(p.name == "quickstart.yaml" for p in EXAMPLES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_valid_for_the_typed_model_and_the_crd(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        assert crd_problems(SCHEMA, doc) == []
    assert load_dialog_models(path)


def test_validate_verb_accepts_all_examples(capsys) -> None:
    assert main(["validate", *map(str, EXAMPLES)]) == 0
    out = capsys.readouterr().out
    assert out.count(": valid (") == DOCUMENTS


def test_validate_accepts_multi_document_files(tmp_path: Path, capsys) -> None:
    combined = tmp_path / "all.yaml"
    combined.write_text("\n---\n".join(p.read_text() for p in EXAMPLES))
    assert main(["validate", str(combined)]) == 0
    assert capsys.readouterr().out.count(": valid (") == DOCUMENTS


def test_the_pipelines_retrieval_model_is_the_quickstart() -> None:
    """examples/pipeline.yaml's chat-retrieval is the measured quickstart recipe, only served with
    a reranker: one recipe, so docs/quality.md's reranking numbers are about the quickstart's model."""
    examples = EXAMPLES[0].parent
    quickstart = yaml.safe_load((examples / "quickstart.yaml").read_text())["spec"]
    pipeline = {d["metadata"]["name"]: d["spec"] for d in yaml.safe_load_all((examples / "pipeline.yaml").read_text())}
    retrieval = pipeline["chat-retrieval"]
    serving_extras = {"topK", "reranker"}
    assert {k: v for k, v in retrieval.items() if k != "serving"} == {k: v for k, v in quickstart.items() if k != "serving"}
    assert {k: v for k, v in retrieval["serving"].items() if k not in serving_extras} == quickstart["serving"]
