"""A training run killed with SIGKILL and started again continues from its last checkpoint."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest

from rejoinder.training.checkpoints import CheckpointStore

from training_support import cli_env, metrics_of, tiny_model, write_model

STEPS, INTERVAL = 60, 10
PROGRESS = re.compile(r"REJOINDER_PROGRESS step=(\d+) total=(\d+)")


@pytest.mark.slow
def test_sigkill_then_restart_resumes_from_the_last_checkpoint(tmp_path, storage):
    spec_file = write_model(tmp_path / "m.yaml", tiny_model(
        "resume", storage, training={"steps": STEPS, "checkpointInterval": INTERVAL, "batchSizePerGpu": 16}))
    argv = [sys.executable, "-m", "rejoinder", "train", "-f", str(spec_file), "--no-horovod"]

    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=cli_env())
    killed_at = None
    deadline = time.monotonic() + 240
    try:
        for line in first.stdout:  # type: ignore[union-attr]
            match = PROGRESS.search(line)
            if match and int(match.group(1)) >= 2 * INTERVAL + INTERVAL // 2:
                first.send_signal(signal.SIGKILL)  # no chance to clean up or flush anything
                killed_at = int(match.group(1))
                break
            assert time.monotonic() < deadline, "training did not reach the kill point in time"
    finally:
        first.kill()
        first.wait()
    assert killed_at is not None, "the first run ended before it could be killed"
    assert first.returncode == -signal.SIGKILL

    version_dir = next((storage / "default" / "resume" / "versions").iterdir())
    saved = CheckpointStore(version_dir / "checkpoints").latest()
    assert saved is not None and saved.step >= killed_at - INTERVAL  # lost at most one interval
    assert saved.state()["position"]["epoch"] >= 0
    assert not (version_dir / "metrics.json").exists()

    second = subprocess.run(argv, capture_output=True, text=True, env=cli_env(), timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    steps = [int(m.group(1)) for m in PROGRESS.finditer(second.stdout)]
    assert steps and min(steps) > saved.step and max(steps) == STEPS  # continued, did not start over
    assert f"resuming at step {saved.step}" in second.stderr
    report = metrics_of(storage, "resume")
    assert report["training"]["resumedFrom"] == saved.step
    assert json.loads((version_dir / "checkpoints" / "latest").read_text())["step"] == STEPS


@pytest.mark.slow
def test_stopped_and_resumed_run_matches_an_uninterrupted_one(tmp_path):
    """Resume restores weights, optimizer state, RNG state and data position exactly: a run
    stopped after 3 steps and continued ends with the same weights as one that never stopped."""
    from rejoinder.api import parse_dialog_model
    from rejoinder.training.pipeline import TrainOptions, train

    # A fixed WordPiece vocab: YouTokenToMe's multi-threaded BPE training may merge differently
    # in the two storage trees, which would make the comparison about tokenizers, not resume.
    from rejoinder.datasets.chatterbot import load_corpus

    pairs, _ = load_corpus()
    words = sorted({w for p in pairs for w in "".join(c if c.isalnum() else " " for c in p.response.lower()).split()})
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")

    def run(storage, stop_after=None):
        model = parse_dialog_model(tiny_model("same", storage, tokenizer={"kind": "wordpiece", "vocabFile": str(vocab)},
                                              training={"steps": 6, "checkpointInterval": 4}))
        return train(model, TrainOptions(artifacts=storage, namespace="default", use_horovod=False, stop_after=stop_after))

    straight = run(tmp_path / "a")
    assert run(tmp_path / "b", stop_after=3) is None  # stopped early: no evaluation, no export
    saved = CheckpointStore(next((tmp_path / "b" / "default" / "same" / "versions").iterdir()) / "checkpoints").latest()
    assert saved.step == 3
    resumed = run(tmp_path / "b")
    assert resumed["training"]["resumedFrom"] == 3
    assert resumed["training"]["rankWeightDigests"] == straight["training"]["rankWeightDigests"]
    assert resumed["metrics"] == pytest.approx(straight["metrics"])
