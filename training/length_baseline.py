"""A session scorer that sees only a session's length: logistic regression (scikit-learn) on the
number of turns and the words per turn, fit on the training sessions. If a model is not clearly
above it, it has learned how long good conversations are rather than what was said."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .metrics import binary_metrics


def length_features(sessions: Sequence[Any]) -> np.ndarray:
    rows = []
    for s in sessions:
        words = [len(t.split()) for t in s.turns]
        rows.append([np.log1p(len(s.turns)), np.log1p(sum(words)), np.log1p(np.mean(words))])
    return np.asarray(rows, dtype=np.float64)


def length_baseline(train: Sequence[Any], held: Sequence[Any]) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression

    labels = np.array([s.positive for s in train], dtype=np.int64)
    if len(set(labels.tolist())) < 2:
        return {"accuracy": float(max(labels.mean(), 1 - labels.mean())), "roc_auc": 0.5}
    model = LogisticRegression().fit(length_features(train), labels)
    return binary_metrics(np.array([s.positive for s in held]), model.predict_proba(length_features(held))[:, 1])
