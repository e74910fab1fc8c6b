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


def test_echo_negatives_are_further_columns_and_an_echo_equal_to_the_reply_is_skipped() -> None:
    """Each context ranks its reply above the batch's replies and the batch's contexts' newest
    turns (echoes); row 1's echo is its own reply (ids equal), which must not count against it."""
    rng = np.random.default_rng(5)
    c, r, e = _unit(rng.normal(size=(3, 8))), _unit(rng.normal(size=(3, 8))), _unit(rng.normal(size=(3, 8)))
    response_ids = np.array([[5, 6], [7, 8], [9, 9]], dtype=np.int32)
    echo_ids = np.array([[1, 2], [7, 8], [3, 4]], dtype=np.int32)
    scale = 20.0
    got = float(in_batch_softmax_loss(c, r, response_ids, scale=scale, symmetric=False, echo_emb=e, echo_ids=echo_ids))
    echo_logits = scale * (c @ e.T)
    echo_logits[1, 1] = -1e9  # row 1's reply is the echo of row 1 → skipped
    logits = np.concatenate([scale * (c @ r.T), echo_logits], axis=1)
    top = logits.max(axis=1, keepdims=True)
    log_softmax = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
    assert got == pytest.approx(float(-np.mean(log_softmax[np.arange(3), np.arange(3)])), rel=1e-5)
    assert got > float(in_batch_softmax_loss(c, r, response_ids, scale=scale, symmetric=False)), "more negatives, more loss"
