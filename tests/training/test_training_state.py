"""Batching order, checkpoint publishing and the LR schedule: the pieces resume depends on."""

import json

import numpy as np
import pytest

from rejoinder.progress_lines import parse_metrics, parse_progress

from rejoinder.training.batches import BatchPlan, iterate
from rejoinder.training.checkpoints import CheckpointStore
from rejoinder.training.progress import ProgressReporter, metrics_line, progress_line
from rejoinder.training.schedule import WarmupLinearDecay, peak_learning_rate


def test_batches_are_a_pure_function_of_the_step():
    arrays = {"x": np.arange(23)}
    plan = BatchPlan.for_rank(23, 4, seed=1, rank=0, min_rank_examples=23)
    assert plan.steps_per_epoch == 5  # drop remainder: fixed shapes
    full = [b["x"].tolist() for _, b in iterate(arrays, plan, 0, 12)]
    resumed = [b["x"].tolist() for _, b in iterate(arrays, plan, 7, 12)]
    assert full[7:] == resumed
    assert all(len(b) == 4 for b in full)
    epoch0 = sum(full[:5], [])
    assert len(set(epoch0)) == 20  # no example twice within an epoch
    assert full[:5] != full[5:10]  # a new order each epoch
    assert plan.indices(7).tolist() == full[7]


def test_ranks_get_different_orders_and_equal_step_counts():
    a = BatchPlan.for_rank(30, 4, seed=1, rank=0, min_rank_examples=26)
    b = BatchPlan.for_rank(26, 4, seed=1, rank=1, min_rank_examples=26)
    assert a.steps_per_epoch == b.steps_per_epoch == 6
    with pytest.raises(ValueError, match="batchSizePerGpu"):
        BatchPlan.for_rank(3, 4, seed=1, rank=0, min_rank_examples=3)


class FakeCheckpoint:
    """Stands in for tf.train.Checkpoint: writes <prefix>.index and reads it back."""

    def __init__(self):
        self.value = 0

    def write(self, prefix):
        with open(prefix + ".index", "w") as f:
            f.write(str(self.value))

    def read(self, prefix):
        with open(prefix + ".index") as f:
            self.value = int(f.read())

        class Status:
            def assert_existing_objects_matched(self):
                return self

        return Status()


def test_checkpoint_store_publishes_atomically_keeps_the_newest_and_restores(tmp_path):
    store = CheckpointStore(tmp_path / "ck", keep=2)
    ck = FakeCheckpoint()
    assert store.latest() is None and store.restore(ck) is None
    for step in (10, 20, 30):
        ck.value = step * 100
        store.save(step, ck, {"position": {"epoch": 0}})
    names = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert names == ["latest", "step-00000020", "step-00000030"]
    fresh = FakeCheckpoint()
    state = store.restore(fresh)
    assert fresh.value == 3000 and state["step"] == 30 and state["position"] == {"epoch": 0}


def test_checkpoint_store_survives_a_writer_killed_mid_publish(tmp_path):
    store = CheckpointStore(tmp_path / "ck")
    ck = FakeCheckpoint()
    ck.value = 1
    store.save(5, ck, {})
    # what a SIGKILL during the next save leaves: a half-written temporary directory
    half = tmp_path / "ck" / ".step-00000010.abc.tmp"
    half.mkdir()
    (half / "ckpt.index").write_text("garbage")
    assert store.latest().step == 5
    # ... or a published directory whose `latest` update never happened
    ck.value = 2
    store.save(10, ck, {})
    (tmp_path / "ck" / "latest").write_text(json.dumps({"step": 5, "dir": "step-00000005"}))
    assert store.latest().step == 10
    (tmp_path / "ck" / "latest").write_text("{not json")
    assert store.latest().step == 10
    assert not half.exists()  # cleaned up by the next save


def test_learning_rate_warms_up_then_decays():
    sched = WarmupLinearDecay(peak=1.0, warmup_steps=10, total_steps=110)
    values = [float(sched(s)) for s in (0, 4, 9, 10, 60, 110)]
    assert values[0] == pytest.approx(0.1) and values[2] == pytest.approx(1.0)
    assert values[3] == pytest.approx(1.0) and values[4] == pytest.approx(0.5) and values[5] == 0.0
    assert peak_learning_rate(1e-4, 8, True) == pytest.approx(8e-4)
    assert peak_learning_rate(1e-4, 8, False) == pytest.approx(1e-4)


def test_progress_lines_follow_the_operator_contract(capsys):
    p = ProgressReporter(total_steps=200, start_step=0, global_batch=8, enabled=True)
    for step in range(1, 5):
        p.update(step, 1.5)
    p.close()
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("REJOINDER_PROGRESS step=2 total=200 loss=1.5000 examples_per_sec=")
    assert len(out) == 2  # every 1 % = 2 steps
    parsed = parse_progress(progress_line(3, 10, 0.25, 12.0))
    assert (parsed.step, parsed.total, parsed.loss, parsed.examples_per_sec) == (3, 10, 0.25, 12.0)
    assert parse_metrics(metrics_line({"map": 0.5})) == {"map": 0.5}
    silent = ProgressReporter(total_steps=10, start_step=0, global_batch=8, enabled=False)
    silent.update(1, 1.0)


def test_without_horovod_training_is_one_process_and_says_so(monkeypatch, caplog):
    import sys

    from rejoinder.training.distributed import init_distributed

    monkeypatch.setitem(sys.modules, "horovod.tensorflow", None)  # import fails as if not installed
    with caplog.at_level("WARNING", logger="rejoinder.training.distributed"):
        dist = init_distributed(use_horovod=True)
    assert (dist.horovod, dist.rank, dist.size, dist.is_chief) == (False, 0, 1, True)
    assert "Horovod is not installed" in caplog.text and "single process" in caplog.text
    assert dist.run_on_chief("x", lambda: 41 + 1) == 42
    assert dist.allgather_object("a") == ["a"] and dist.mean(2.5) == 2.5
