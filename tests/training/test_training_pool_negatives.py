"""training.poolNegatives: a bank of replies as extra negatives for retrieval.

The loss is checked against a hand-computed softmax; the pool gets no gradient and a row's own
response in the pool is not its negative; a tiny model trains with it under XLA and without,
and the bank really follows the weights at each refresh."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rejoinder.api import parse_dialog_model
from rejoinder.training.pool_negatives import ReplyBank
from rejoinder.training.losses import RETRIEVAL_SCALE, in_batch_softmax_loss
from rejoinder.training.pipeline import TrainOptions, train

from training_support import tiny_model


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _log_softmax_at(logits: np.ndarray, index: int) -> float:
    top = logits.max()
    return float(logits[index] - top - np.log(np.exp(logits - top).sum()))


def test_pool_negatives_enter_the_context_side_softmax_except_the_rows_own_response() -> None:
    rng = np.random.default_rng(0)
    c, r, pool = _unit(rng.normal(size=(3, 8))), _unit(rng.normal(size=(3, 8))), _unit(rng.normal(size=(4, 8)))
    ids = np.array([[5, 0], [6, 0], [7, 0]], np.int32)
    pool_ids = np.array([[9, 0], [6, 0], [8, 0], [10, 0]], np.int32)  # pool entry 1 is row 1's response
    got = float(in_batch_softmax_loss(c, r, ids, pool_emb=pool, pool_ids=pool_ids))

    s = RETRIEVAL_SCALE
    forward, backward = [], []
    for i in range(3):
        keep = [j for j in range(4) if not (pool_ids[j] == ids[i]).all()]
        forward.append(-_log_softmax_at(np.concatenate([s * c[i] @ r.T, s * pool[keep] @ c[i]]), i))
        backward.append(-_log_softmax_at(s * r[i] @ c.T, i))
    assert got == pytest.approx(0.5 * (np.mean(forward) + np.mean(backward)), rel=1e-5)
    # Without the pool it is the plain in-batch loss, which is lower (fewer negatives).
    assert float(in_batch_softmax_loss(c, r, ids)) < got


def test_the_pool_gets_no_gradient() -> None:
    import tensorflow as tf

    rng = np.random.default_rng(1)
    c = tf.Variable(_unit(rng.normal(size=(2, 4))))
    pool = tf.Variable(_unit(rng.normal(size=(3, 4))))
    ids = tf.constant([[1], [2]], tf.int32)
    with tf.GradientTape() as tape:
        loss = in_batch_softmax_loss(c, c, ids, pool_emb=pool, pool_ids=tf.constant([[3], [4], [5]], tf.int32))
    grad_c, grad_pool = tape.gradient(loss, [c, pool])
    assert grad_c is not None and grad_pool is None


def test_a_large_pool_is_sampled_the_same_way_for_a_step_and_anew_per_refresh() -> None:
    pool = ReplyBank(np.arange(100).reshape(50, 2), refresh_steps=4, sample=10, seed=7)
    assert pool.draw(0).shape == (10, 2)
    assert (pool.draw(4) == pool.draw(4)).all()
    assert not (pool.draw(0) == pool.draw(4)).all()
    small = ReplyBank(np.arange(8).reshape(4, 2), refresh_steps=4, sample=10, seed=7)
    assert (small.draw(3) == small.ids).all()


def test_pool_negatives_need_task_retrieval() -> None:
    from rejoinder.api.document import InvalidDialogModel

    obj = tiny_model("rr", Path("/tmp"), task="reranking", training={"poolNegatives": {}})
    with pytest.raises(InvalidDialogModel, match="poolNegatives"):
        parse_dialog_model(obj)


@pytest.mark.parametrize("xla,pool", [(False, "training"), (True, "candidates")])
def test_a_tiny_model_trains_with_pool_negatives_and_its_bank_follows_the_weights(tmp_path, monkeypatch, xla, pool) -> None:
    from rejoinder.training import tasks
    from rejoinder.training.pipeline import load_prepared

    refreshed: list[tuple[int, float, int]] = []
    original = tasks.RetrievalTask.refresh

    def spy(self, step):
        original(self, step)
        refreshed.append((step, float(np.abs(self._bank.numpy()).sum()), int(self._bank.shape[0])))

    monkeypatch.setattr(tasks.RetrievalTask, "refresh", spy)
    obj = tiny_model("pooled", tmp_path, training={"poolNegatives": {"refreshSteps": 3, "pool": pool}, "xla": xla})
    report = train(parse_dialog_model(obj), TrainOptions(artifacts=tmp_path, namespace="default", use_horovod=False))
    assert report is not None and 0.0 <= report["metrics"]["recall@5"] <= 1.0
    assert [step for step, _, _ in refreshed] == [0, 3, 6]  # 8 steps, every 3rd re-encodes the bank
    sums = [total for _, total, _ in refreshed]
    assert sums[0] > 0 and len(set(sums)) == 3  # real embeddings, re-encoded with moving weights
    data = load_prepared(next(tmp_path.glob("default/pooled/versions/*/data")))
    expected = (len({p.response for p in data.train()}) if pool == "training" else len(data.candidates()))
    assert {rows for _, _, rows in refreshed} == {expected}
