"""A real `rejoinder up` serving a tiny reranker: closing its terminal (SIGHUP) or killing it
(SIGKILL) leaves no child behind within 5 s; a second `up` on the same ports exits 2 naming the
port before it starts anything, and the first keeps serving (checked with a real RPC); the
server `up` reports is its own (ModelInfo names the instance `up` gave it)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import yaml

from rejoinder.modelserver.protos import dialog_service_pb2 as pb
from rejoinder.modelserver.protos import dialog_service_pb2_grpc as pb_grpc
from tests.support.local_up import wait_serving
from tests.support.proc_tree import alive, descendants, still_alive

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _tiny_reranker(storage: Path) -> dict:
    """The cheapest model that reaches serving: no index, a few steps, one sequence bucket, no XLA."""
    spec = {
        "task": "reranking", "data": {"preset": "chatterbot", "maxContextTurns": 1},
        "model": {"bert": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "maxSeqLength": 24,
                           "contextLength": 16, "responseLength": 8}},
        "tokenizer": {"kind": "bpe", "vocabSize": 600},
        "training": {"gpusPerWorker": 0, "steps": 4, "batchSizePerGpu": 16, "warmupSteps": 1, "learningRate": 1e-3,
                     "checkpointInterval": 4, "xla": False},
        "serving": {"xla": False, "batching": {"maxBatchSize": 4, "maxQueueDelayMs": 2, "sequenceBuckets": [24]}},
        "storage": {"path": str(storage)},
    }
    return {"apiVersion": "rejoinder.dev/v1alpha1", "kind": "DialogModel", "metadata": {"name": "sup"}, "spec": spec}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Up:
    def __init__(self, config: Path, port: int, metrics_port: int, log: Path) -> None:
        env = {**os.environ, "PYTHONSAFEPATH": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.log = log
        with open(log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rejoinder", "up", "-f", str(config), "--port", str(port),
                 "--metrics-port", str(metrics_port), "--no-horovod"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)

    def output(self) -> str:
        return self.log.read_text()[-4000:]

    def wait_serving(self, status_file: Path, timeout: float) -> dict:
        return wait_serving(self.proc, status_file, timeout, self.output)

    def kill_all(self, tree: list[int]) -> None:
        for pid in [self.proc.pid, *tree]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def _model_info(endpoint: str) -> pb.ModelInfoResponse:
    with grpc.insecure_channel(endpoint) as channel:
        return pb_grpc.DialogServiceStub(channel).ModelInfo(pb.ModelInfoRequest(), timeout=10)


def _rerank(endpoint: str) -> pb.RerankResponse:
    with grpc.insecure_channel(endpoint) as channel:
        return pb_grpc.DialogServiceStub(channel).Rerank(
            pb.RerankRequest(context=["Hello"], responses=["Hi there", "The weather is nice"]), timeout=30)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's")
def test_up_children_die_with_it_and_a_second_up_refuses_the_port(tmp_path: Path) -> None:
    storage = tmp_path / "artifacts"
    config = tmp_path / "sup.yaml"
    config.write_text(yaml.safe_dump(_tiny_reranker(storage)))
    status_file = storage / "default" / "sup" / "status.json"
    port, metrics_port = _free_port(), _free_port()

    # 1. train and serve; the server answering is this up's own
    first = Up(config, port, metrics_port, tmp_path / "up1.log")
    tree: list[int] = []
    try:
        status = first.wait_serving(status_file, timeout=900)
        tree = descendants(first.proc.pid)
        assert tree, "up runs its server as a child"
        assert _model_info(status["endpoint"]).instance.startswith(f"up-{first.proc.pid}-")

        # 2. a second up on the same ports: exit 2 naming the port, nothing started, the first serves on
        second = Up(config, port, metrics_port, tmp_path / "up2.log")
        assert second.proc.wait(120) == 2, second.output()
        assert f"port {port}" in second.output() and "in use" in second.output()
        assert "starting training" not in second.output()
        assert len(_rerank(status["endpoint"]).scores) == 2
        assert json.loads(status_file.read_text())["phase"] == "Serving"

        # 3. the terminal closes (SIGHUP): up and every child are gone within 5 s
        first.proc.send_signal(signal.SIGHUP)
        first.proc.wait(10)
        assert still_alive(tree, 5.0) == [], f"children of up left after SIGHUP:\n{first.output()}"
    finally:
        first.kill_all(tree)

    # 4. up again (training is reused, straight to serving), then SIGKILL it: its children follow
    third = Up(config, port, metrics_port, tmp_path / "up3.log")
    tree = []
    try:
        third.wait_serving(status_file, timeout=600)
        tree = descendants(third.proc.pid)
        assert tree
        third.proc.kill()
        third.proc.wait(10)
        assert still_alive(tree, 5.0) == [], "children of up left after SIGKILL"
        assert "reusing finished stage train" in third.output()
    finally:
        third.kill_all(tree)
