"""Which order `rejoinder up` trains the documents of one file in (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rejoinder.api import load_dialog_models, parse_dialog_model
from rejoinder.local.order import OrderError, bring_up_order

PIPELINE = Path(__file__).resolve().parents[2] / "examples" / "pipeline.yaml"


def _model(name: str, task: str = "retrieval", **spec):
    data = {"preset": "chatterbot", **spec.pop("data", {})}
    return parse_dialog_model({"metadata": {"name": name}, "spec": {"task": task, "data": data, **spec}})


def _names(models) -> list[str]:
    return [m.metadata.name for m in models]


def test_the_pipeline_example_trains_retrieval_then_its_reranker_and_serves_retrieval() -> None:
    models = load_dialog_models(PIPELINE)
    ordered, served = bring_up_order(list(reversed(models)))  # document order does not matter
    assert _names(ordered) == ["chat-retrieval", "chat-reranker"]
    assert served is not None and served.metadata.name == "chat-retrieval"
    assert served.spec.serving.reranker == "chat-reranker"


def test_training_dependencies_come_first_and_unknown_names_are_left_to_the_stages() -> None:
    pre = _model("pre", "pretraining", serving={"enabled": False})
    retr = _model("retr", model={"init": {"dialogModel": "pre"}}, serving={"reranker": "rr"})
    rr = _model("rr", "reranking", data={"negativesFrom": "retr"}, serving={"enabled": False})
    other = _model("other", "reranking", data={"negativesFrom": "elsewhere"}, serving={"enabled": False})
    ordered, served = bring_up_order([rr, other, retr, pre])
    assert _names(ordered) == ["pre", "retr", "rr", "other"] and served is retr


def test_a_reranker_trained_on_users_reactions_comes_after_the_model_they_reacted_to() -> None:
    reactions = {"dialogModel": "retr", "until": "2026-12-01T00:00:00Z"}
    rr = _model("rr", "reranking", data={"reactionsFrom": reactions}, serving={"enabled": False})
    both = _model("both", "reranking", data={"negativesFrom": "retr", "reactionsFrom": reactions},
                  serving={"enabled": False})
    retr = _model("retr", serving={"reranker": "rr"})
    ordered, served = bring_up_order([both, rr, retr])
    assert _names(ordered) == ["retr", "both", "rr"] and served is retr


def test_files_local_mode_cannot_bring_up_are_refused_with_the_reason() -> None:
    off = {"enabled": False}
    with pytest.raises(OrderError, match="serves one model, but a, b have serving enabled"):
        bring_up_order([_model("a"), _model("b")])
    with pytest.raises(OrderError, match="two documents are named 'a'"):
        bring_up_order([_model("a"), _model("a", serving=off)])
    with pytest.raises(OrderError, match="cycle: x → y → x"):
        bring_up_order([_model("x", "reranking", data={"negativesFrom": "y"}, serving=off),
                        _model("y", "reranking", data={"negativesFrom": "x"}, serving=off)])
    with pytest.raises(OrderError, match="serving.reranker 's' is a session-scoring model"):
        bring_up_order([_model("r", serving={"reranker": "s"}), _model("s", "session-scoring", serving=off)])
    with pytest.raises(OrderError, match="same storage.path"):
        bring_up_order([_model("a"), _model("b", serving=off, storage={"path": "/elsewhere"})])
