"""Reranking: upvote prediction for (context, response) pairs, a BERT cross-encoder over the
packed pair or a QA-LSTM over the two sides; served as Rerank (and behind Respond of a
retrieval model that names it as its reranker)."""

from __future__ import annotations

from ..api.spec import Architecture, Task
from ..text.formats import Reaction, RecordKind
from .base import RERANK, BinaryTaskDefinition


class Reranking(BinaryTaskDefinition):
    task = Task.reranking
    record_kind = RecordKind.reactions
    input_kinds = ("pair",)
    methods = (RERANK,)

    def input_lengths(self, config):
        seq = config.sequence
        if config.architecture == Architecture.bert:
            total = seq.context_length + seq.response_length
            return {"input_ids": total, "segment_ids": total}
        return {"context_ids": seq.max_seq_length, "response_ids": seq.max_seq_length}

    def features(self, featurizer, architecture, records):
        import numpy as np

        from ..text.features import only

        rs = only(records, Reaction, self.task)
        label = np.array([r.upvote for r in rs], dtype=np.float32)
        if architecture == Architecture.bert:
            return {**featurizer.pairs([r.context for r in rs], [r.response for r in rs]), "label": label}
        return {
            "context_ids": featurizer.contexts([r.context for r in rs]),
            "response_ids": featurizer.responses([r.response for r in rs]),
            "label": label,
        }

    def preset(self, spec, resolve_dialog_model):
        from ..datasets.presets import reactions_preset

        return reactions_preset(spec, resolve_dialog_model)

    def head(self, config):
        from ..models import heads

        if config.architecture == Architecture.bert:
            return heads.CrossEncoder(config)
        return heads.QALstmReranker(config)


DEFINITION = Reranking()
