"""One module per task, behind one registry keyed by the `Task` enum.

    module       model (head)                 loss, metrics                       served methods
    retrieval    DualEncoder, BERT or QA-LSTM in-batch softmax; recall@k, MRR, MAP Retrieve, Respond
    reranking    CrossEncoder / QALstmReranker sigmoid CE on upvote; accuracy, AUC Rerank
    session      SequenceClassifier           sigmoid CE on good session; same    ScoreSession
    pretraining  MaskedLM (BERT only)         masked-LM CE; masked-token accuracy (not served)

and the arrays each featurizes (`input_lengths`; [n, width]):

    retrieval                    context_ids, response_ids            maxSeqLength
    reranking, bert              input_ids, segment_ids, label        contextLength+responseLength
    reranking, qa-lstm           context_ids, response_ids, label     maxSeqLength
    session-scoring              input_ids, label                     maxSeqLength
    pretraining                  input_ids                            maxSeqLength

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
