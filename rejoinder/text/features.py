"""Dialog records → model input arrays: the one code path for training, shards and serving.

`Featurizer` joins turns with `context.py`, tokenizes and packs to fixed shapes with
`encoding.py`, one method per kind of input (contexts, responses, pairs, sessions, texts).
`Featurizer.records(task, architecture, records)` gives the named arrays a task's model
consumes (plus `label` where the task has one); which arrays those are is the task module's
choice (`rejoinder.tasks`, e.g. reranking with bert: input_ids and segment_ids of
[n, contextLength+responseLength])."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..api.spec import Architecture, Task
from . import context as ctx
from .encoding import pack_pairs, pack_single
from .formats import Candidate, DialogPair, Reaction, Record, Session
from .tokenizer import Tokenizer

Features = dict[str, np.ndarray]


@dataclass(frozen=True)
class SequenceConfig:
    """The lengths and formatting that must be identical in training and serving."""

    max_seq_length: int = 80
    context_length: int = 60
    response_length: int = 20
    max_context_turns: int = 4
    turn_separator: str = "###"

    @classmethod
    def from_spec(cls, spec: Any) -> "SequenceConfig":
        """From a `DialogModelSpec` (its model.bert lengths and data formatting fields)."""
        bert = spec.model.bert
        return cls(
            max_seq_length=bert.max_seq_length,
            context_length=bert.context_length,
            response_length=bert.response_length,
            max_context_turns=spec.data.max_context_turns,
            turn_separator=spec.data.turn_separator,
        )

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Featurizer:
    def __init__(self, tokenizer: Tokenizer, config: SequenceConfig = SequenceConfig()):
        self.tokenizer = tokenizer
        self.config = config

    # --- text → ids, one kind of input each ----------------------------------------------------

    def context_strings(self, contexts: Sequence[Sequence[str]]) -> list[str]:
        c = self.config
        return [ctx.context_text(t, separator=c.turn_separator, max_turns=c.max_context_turns) for t in contexts]

    def contexts(self, contexts: Sequence[Sequence[str]]) -> np.ndarray:
        """Dual-encoder / QA-LSTM contexts: int32 [n, maxSeqLength], truncated from the left."""
        ids = self.tokenizer.encode(self.context_strings(contexts))
        return pack_single(ids, self.config.max_seq_length, self.tokenizer.special, truncate="left")

    def responses(self, responses: Sequence[str]) -> np.ndarray:
        """Responses (candidates): int32 [n, maxSeqLength], truncated from the right."""
        ids = self.tokenizer.encode([ctx.join_turns([r]) for r in responses])
        return pack_single(ids, self.config.max_seq_length, self.tokenizer.special, truncate="right")

    def pairs(self, contexts: Sequence[Sequence[str]], responses: Sequence[str]) -> Features:
        """Cross-encoder input: input_ids and segment_ids, int32 [n, contextLength+responseLength]."""
        c = self.config
        ids, segments = pack_pairs(
            self.tokenizer.encode(self.context_strings(contexts)),
            self.tokenizer.encode([ctx.join_turns([r]) for r in responses]),
            c.context_length,
            c.response_length,
            self.tokenizer.special,
        )
        return {"input_ids": ids, "segment_ids": segments}

    def sessions(self, sessions: Sequence[Sequence[str]]) -> np.ndarray:
        """Whole sessions joined with the separator: int32 [n, maxSeqLength], newest turns kept."""
        texts = [ctx.session_text(s, separator=self.config.turn_separator) for s in sessions]
        return pack_single(self.tokenizer.encode(texts), self.config.max_seq_length, self.tokenizer.special, "left")

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        """Plain texts (masked-LM pretraining): int32 [n, maxSeqLength], truncated from the right."""
        ids = self.tokenizer.encode([ctx.join_turns([t]) for t in texts])
        return pack_single(ids, self.config.max_seq_length, self.tokenizer.special, "right")

    # --- records → a task's named arrays -------------------------------------------------------

    def records(self, task: Task, architecture: Architecture, records: Sequence[Record]) -> Features:
        """The task's featurization (rejoinder.tasks owns which arrays each task gets)."""
        from ..tasks import task_module

        return task_module(task).features(self, Architecture(architecture), records)


def pretraining_texts(records: Sequence[Record]) -> list[str]:
    """Masked-LM pretraining reads every utterance the data holds (user messages and responses)."""
    texts: list[str] = []
    for r in records:
        if isinstance(r, (DialogPair, Reaction)):
            texts.extend([*r.context, r.response])
        elif isinstance(r, Session):
            texts.extend(r.turns)
        elif isinstance(r, Candidate):
            texts.append(r.text)
    return texts


def only(records: Sequence[Record], kind: type, task: Task) -> list[Any]:
    """`records`, checked to be all of `kind` (the record kind `task` trains on)."""
    for i, r in enumerate(records):
        if not isinstance(r, kind):
            raise TypeError(f"task {task} needs {kind.__name__} records; record {i} is {type(r).__name__}")
    return list(records)
