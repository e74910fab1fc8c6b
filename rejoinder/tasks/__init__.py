"""One module per task, behind one registry keyed by the `Task` enum.

    retrieval    dual encoder, in-batch softmax, recall@k/MRR over a candidate pool; Retrieve, Respond
    reranking    cross-encoder / QA-LSTM on upvotes, accuracy/ROC AUC; Rerank
    session      sequence classifier on good sessions, accuracy/ROC AUC; ScoreSession
    pretraining  masked LM, masked-token accuracy; not served

`task_module(task)` is the only way code outside this package learns what a task does: its
record kind, model inputs, featurization, head, loss, metrics and served methods (see
`base.TaskDefinition`). Cheap to import (no numpy, no TensorFlow).
"""

from __future__ import annotations

from typing import Union

from ..api.spec import Task
from . import pretraining, reranking, retrieval, session
from .base import (
    METHOD_ORDER,
    MODEL_INFO,
    RERANK,
    RESPOND,
    RETRIEVE,
    SCORE_SESSION,
    BinaryTaskDefinition,
    EvaluationInputs,
    TaskDefinition,
)

REGISTRY: dict[Task, TaskDefinition] = {
    m.DEFINITION.task: m.DEFINITION for m in (retrieval, reranking, session, pretraining)
}


def task_module(task: Union[Task, str]) -> TaskDefinition:
    """The definition of `task` (a Task; its wire string is accepted where JSON hands one in)."""
    try:
        return REGISTRY[Task(task)]
    except ValueError:
        raise ValueError(f"unknown task {task!r}; expected one of {[t.value for t in Task]}") from None


__all__ = [
    "METHOD_ORDER", "MODEL_INFO", "RERANK", "RESPOND", "RETRIEVE", "SCORE_SESSION", "REGISTRY",
    "BinaryTaskDefinition", "EvaluationInputs", "TaskDefinition", "task_module",
]
