"""The feedback loop for real, with the smallest models: `rejoinder up` serves a retrieval model and
its proxy reranker, simulated users react through Feedback, the reranker is retrained from the
reaction log, a canary serves it beside the stable server, and the decision is the one `decide`
gives on the logged counts; `rejoinder report` wrote its PNG and `rejoinder status` shows the canary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from rejoinder.constants import RFC3339
from rejoinder.feedback.canary import CanaryPolicy, VersionCounts, decide
from rejoinder.feedback.segments import reactions_dir, read_reactions
from rejoinder.local.flywheel_plan import ANNOTATION

pytestmark = pytest.mark.slow

BERT = {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "maxSeqLength": 24, "contextLength": 16,
        "responseLength": 8}
TRAINING = {"gpusPerWorker": 0, "steps": 6, "batchSizePerGpu": 16, "warmupSteps": 1, "learningRate": 1e-3,
            "checkpointInterval": 6, "xla": False}
CANARY = {"trafficPercent": 50, "minReactions": 10, "maxDurationSeconds": 60}
USERS = {"collectSessions": 60, "minReactions": 40, "judgeRound": 40, "maxJudgeSessions": 160, "seed": 5,
         "concurrency": 4}


def _loop(storage: Path) -> list[dict]:
    common = {"model": {"bert": BERT}, "tokenizer": {"kind": "bpe", "vocabSize": 600}, "training": TRAINING,
              "storage": {"path": str(storage)}}
    retrieval = {**common, "task": "retrieval", "data": {"preset": "chatterbot", "maxContextTurns": 1},
                 "serving": {"reranker": "rr", "topK": 5, "batching": {"maxBatchSize": 8, "maxQueueDelayMs": 2}},
                 "rollout": {"canary": CANARY}}
    reranker = {**common, "task": "reranking", "serving": {"enabled": False},
                "data": {"preset": "chatterbot", "negativesFrom": "retr", "negativesPerContext": 2, "maxContextTurns": 1}}
    docs = [({"name": "rr"}, reranker), ({"name": "retr", "annotations": {ANNOTATION: json.dumps(USERS)}}, retrieval)]
    return [{"apiVersion": "rejoinder.dev/v1alpha1", "kind": "DialogModel", "metadata": m, "spec": s} for m, s in docs]


def test_the_loop_serves_collects_retrains_judges_a_canary_and_reports(tmp_path: Path) -> None:
    storage = tmp_path / "artifacts"
    config = tmp_path / "flywheel.yaml"
    config.write_text(yaml.safe_dump_all(_loop(storage), sort_keys=False))
    root = storage / "default" / "retr"
    env = {**os.environ, "PYTHONSAFEPATH": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    out_file = tmp_path / "up.log"
    with open(out_file, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "rejoinder", "up", "-f", str(config), "--port", "0",
                                 "--metrics-port", "0", "--no-horovod"], cwd=tmp_path, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 1200
        while "Ctrl-C stops" not in out_file.read_text() or not (root / "upvote-ratio.png").is_file():
            assert proc.poll() is None, out_file.read_text()[-4000:]
            assert time.monotonic() < deadline, out_file.read_text()[-4000:]
            time.sleep(1)
        status = subprocess.run([sys.executable, "-m", "rejoinder", "status", "--artifacts", str(storage)],
                                capture_output=True, text=True, env=env, check=True).stdout
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=90)
    output = out_file.read_text()
    assert proc.returncode == 0, output[-4000:]

    judged = json.loads((root / "canary.json").read_text())
    stable, new = judged["stable"]["version"], judged["new"]["version"]
    assert stable.split("+")[0] == new.split("+")[0] and stable != new  # one model, two rerankers

    # Counted here from the log, independently of the loop: each reaction once, since the canary started.
    since = datetime.strptime(judged["since"], RFC3339).replace(tzinfo=timezone.utc)
    records = list(read_reactions(reactions_dir(storage, "default", "retr")))
    assert records and all(r.session_id.startswith("sim-5-") for r in records)  # labelled as simulated
    assert {r.served_by.version for r in records} == {stable, new}
    seen, counts = set(), {stable: [0, 0], new: [0, 0]}
    for r in records:
        if r.response_id not in seen and r.time >= since:
            seen.add(r.response_id)
            counts[r.served_by.version][0 if r.upvote else 1] += 1
    assert counts[stable] == [judged["stable"]["upvotes"], judged["stable"]["downvotes"]]
    assert counts[new] == [judged["new"]["upvotes"], judged["new"]["downvotes"]]
    assert min(sum(counts[stable]), sum(counts[new])) > 0

    policy = CanaryPolicy(min_reactions=CANARY["minReactions"], max_duration_seconds=CANARY["maxDurationSeconds"])
    expected = decide(VersionCounts(*counts[stable]), VersionCounts(*counts[new]), policy, judged["elapsedSeconds"])
    if expected.final:
        assert (judged["outcome"], judged["reason"]) == (expected.outcome.value, expected.reason.value)
    else:  # the traffic bound ended it undecided: the stable version stays, with decide's reason
        assert judged["judgeSessions"] >= USERS["maxJudgeSessions"]
        assert (judged["outcome"], judged["reason"]) == ("KeptStable", expected.reason.value)
    served_on = new if judged["outcome"] == "Promoted" else stable
    assert f"serving {served_on} on" in output

    # the retrained reranker read the users' reactions
    rr = json.loads((storage / "default" / "rr" / "status.json").read_text())
    spec = yaml.safe_load((storage / "default" / "rr" / "versions" / rr["latestVersion"] / "spec.yaml").read_text())
    assert spec["spec"]["data"]["reactionsFrom"]["dialogModel"] == "retr" and new.endswith("+" + rr["latestVersion"])
    labels = json.loads((storage / "default" / "rr" / "versions" / rr["latestVersion"] / "metrics.json").read_text())["labels"]
    assert labels["userReactions"]["total"] == USERS["collectSessions"]  # every collected reaction, once

    assert (root / "upvote-ratio.png").read_bytes()[:4] == b"\x89PNG"
    assert "SIMULATED users" in output and stable in output and new in output
    assert next(line for line in status.splitlines() if line.startswith("retr ")).count(f"canary {new}") == 1
