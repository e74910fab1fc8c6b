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


    def evaluate(self, inputs):
        """Accuracy and ROC-AUC of the held-out reactions; with the retrieval model's held-out
        top-k lists (data.negativesFrom), Respond against Retrieve on them (training/respond_eval.py)."""
        report = super().evaluate(inputs)
        lists = {split: rows for split in ("eval", "test") if (rows := inputs.prepared.lists(split))}
        if "eval" in lists:
            from ..training.hard_negatives import RankedList
            from ..training.respond_eval import respond_report

            parsed = {split: [RankedList.from_json(r) for r in rows] for split, rows in lists.items()}
            report["respond"] = respond_report(lambda rows: self.score_lists(inputs, rows), parsed, inputs.seed)
        return report

    def score_lists(self, inputs, rows):
        """P(upvote) of every candidate of every list, one array per list."""
        import keras
        import numpy as np

        from ..training.evaluation import _pad_id, predict

        records = [Reaction(r.context, c, False) for r in rows for c in r.candidates]
        features = {k: v for k, v in self.features(inputs.featurizer, inputs.architecture, records).items() if k != "label"}
        model = inputs.training_task.model
        probabilities = predict(lambda f: keras.ops.sigmoid(model(f, training=False)), features,
                                pad_id=_pad_id(model)).reshape(-1)
        bounds = np.cumsum([0, *(len(r.candidates) for r in rows)])
        return [probabilities[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


DEFINITION = Reranking()
