"""Session scoring: is a whole conversation a good one? One sequence (the session's turns
joined, newest kept), one logit; served as ScoreSession."""

from __future__ import annotations

from ..api.spec import Task
from ..text.formats import RecordKind, Session
from .base import SCORE_SESSION, BinaryTaskDefinition


class SessionScoring(BinaryTaskDefinition):
    task = Task.session_scoring
    record_kind = RecordKind.sessions
    input_kinds = ("session",)
    methods = (SCORE_SESSION,)

    def input_lengths(self, config):
        return {"input_ids": config.sequence.max_seq_length}

    def features(self, featurizer, architecture, records):
        import numpy as np

        from ..text.features import only

        ss = only(records, Session, self.task)
        return {
            "input_ids": featurizer.sessions([s.turns for s in ss]),
            "label": np.array([s.positive for s in ss], dtype=np.float32),
        }

    def preset(self, spec, resolve_dialog_model):
        from ..datasets.presets import sessions_preset

        return sessions_preset(spec)

    def head(self, config):
        from ..models import heads

        return heads.SequenceClassifier(config)


    def evaluate(self, inputs):
        """The binary metrics, plus a length-only baseline: how far the session's length alone
        (turns, words) predicts the label, fit on the training sessions."""
        from ..training.length_baseline import length_baseline

        report = super().evaluate(inputs)
        train = inputs.prepared.train()
        report["baselines"]["length"] = length_baseline(train, inputs.held)
        if "test" in report:
            report["test"]["baselines"]["length"] = length_baseline(train, inputs.test)
        return report


DEFINITION = SessionScoring()
