"""The task registry: every Task has one module, and what it declares agrees with the model it
builds (the model's input names are the featurizer's) and with what the server answers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rejoinder.api.spec import Architecture, Task
from rejoinder.tasks import MODEL_INFO, RERANK, REGISTRY, task_module
from rejoinder.text.formats import RecordKind


def test_every_task_has_exactly_one_definition():
    assert set(REGISTRY) == set(Task)
    assert all(REGISTRY[t].task is t for t in Task)
    assert task_module("session-scoring") is REGISTRY[Task.session_scoring]  # the wire string from config.json
    with pytest.raises(ValueError, match="unknown task 'ranking'"):
        task_module("ranking")


def test_what_each_task_declares():
    facts = {t.value: (d.record_kind, d.builds_index, d.served, d.input_kinds, d.methods, d.scores_pairs)
             for t, d in REGISTRY.items()}
    assert facts == {
        "retrieval": (RecordKind.pairs, True, True, ("context", "response"), ("Retrieve", "Respond"), False),
        "reranking": (RecordKind.reactions, False, True, ("pair",), ("Rerank",), True),
        "session-scoring": (RecordKind.sessions, False, True, ("session",), ("ScoreSession",), False),
        "pretraining": (None, False, False, (), (), False),
    }
    assert all(MODEL_INFO not in d.methods and (RERANK in d.methods) == d.scores_pairs for d in REGISTRY.values())


def test_pretraining_needs_bert():
    REGISTRY[Task.pretraining].check(Architecture.bert)
    with pytest.raises(ValueError, match="pretraining needs architecture bert, got qa-lstm"):
        REGISTRY[Task.pretraining].check(Architecture.qa_lstm)


def test_the_registry_imports_no_numerics():
    """The operator and the CLI ask tasks what they do: that must not load numpy or TensorFlow."""
    code = ("import sys, rejoinder.tasks, rejoinder.cli; "
            "print(sorted(m for m in ('numpy', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
