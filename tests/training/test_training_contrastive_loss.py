"""training.contrastiveLoss: the in-batch softmax's temperature and direction.

Checked against a hand-computed softmax, and end to end: the spec's values reach the loss the
training loop minimises."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rejoinder.api import parse_dialog_model
from rejoinder.api.spec import ContrastiveLossSpec
from rejoinder.training.losses import in_batch_softmax_loss

from training_support import tiny_model


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _cross_entropy(logits: np.ndarray) -> float:
    """Mean over rows of -log softmax(row)[row index]."""
    top = logits.max(axis=1, keepdims=True)
    log_softmax = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
    return float(-np.mean(np.diag(log_softmax)))


@pytest.mark.parametrize("temperature,symmetric", [(0.05, True), (0.1, False), (0.02, True)])
def test_the_loss_is_the_scaled_softmax_in_the_directions_asked_for(temperature: float, symmetric: bool) -> None:
    rng = np.random.default_rng(3)
    c, r = _unit(rng.normal(size=(4, 8))), _unit(rng.normal(size=(4, 8)))
    got = float(in_batch_softmax_loss(c, r, scale=1.0 / temperature, symmetric=symmetric))
    logits = (c @ r.T) / temperature
    forward, backward = _cross_entropy(logits), _cross_entropy(logits.T)
    assert got == pytest.approx(0.5 * (forward + backward) if symmetric else forward, rel=1e-5)


def test_one_direction_differs_from_both() -> None:
    rng = np.random.default_rng(4)
    c, r = _unit(rng.normal(size=(5, 8))), _unit(rng.normal(size=(5, 8)))
    assert float(in_batch_softmax_loss(c, r, symmetric=False)) != pytest.approx(float(in_batch_softmax_loss(c, r)))


def test_the_training_task_uses_the_specs_loss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rejoinder.training import losses
    from rejoinder.training.pipeline import TrainOptions, train

    seen: list[tuple[float, bool]] = []
    original = losses.in_batch_softmax_loss

    def spy(*args, **kwargs):
        seen.append((kwargs["scale"], kwargs["symmetric"]))
        return original(*args, **kwargs)

    monkeypatch.setattr(losses, "in_batch_softmax_loss", spy)
    obj = tiny_model("oneway", tmp_path, training={"contrastiveLoss": {"temperature": 0.1, "symmetric": False},
                                                   "xla": False, "steps": 2})
    report = train(parse_dialog_model(obj), TrainOptions(artifacts=tmp_path, namespace="default", use_horovod=False))
    assert report is not None
    assert seen and all(scale == pytest.approx(10.0) and not symmetric for scale, symmetric in seen)


def test_unset_means_sentence_transformers_defaults() -> None:
    spec = ContrastiveLossSpec()
    assert (spec.temperature, spec.symmetric) == (0.05, True)
