"""Shared artifacts for the model-server tests: small random-init bundles, their index, and a
real `rejoinder serve` subprocess on 127.0.0.1 with free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pytest
import yaml

CANDIDATES = 400
TINY_BERT = {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64,
             "maxSeqLength": 32, "contextLength": 24, "responseLength": 8}


def dialog_model(name: str, task: str, storage: Path, **spec) -> dict:
    return {
        "apiVersion": "rejoinder.dev/v1alpha1",
        "kind": "DialogModel",
        "metadata": {"name": name, "namespace": "tests"},
        "spec": {
            "task": task,
            "data": {"preset": "chatterbot"},
            "tokenizer": {"kind": "bpe", "vocabSize": 400},
            "model": {"bert": TINY_BERT},
            "storage": {"path": str(storage)},
            **spec,
        },
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Artifacts:
    root: Path
    retrieval_yaml: Path  # a DialogModel whose layout holds the bundle, candidates and index
    bundle: Path
    index: Path
    reranker: Path
    scorer: Path
    candidate_ids: list[str]
    candidate_texts: list[str]


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Artifacts:
    """Random-init retrieval + reranking + session-scoring bundles, and the retrieval index built
    by `rejoinder build-index -f` exactly as the operator's Job runs it."""
    from rejoinder.api import parse_dialog_model
    from rejoinder.cli import main as cli
    from rejoinder.models.bundle import create_random_bundle
    from rejoinder.modelserver.locate import locate
    from rejoinder.datasets import synthetic
    from rejoinder.text.formats import write_records

    root = tmp_path_factory.mktemp("modelserver")
    doc = dialog_model("chat", "retrieval", root)
    retrieval_yaml = root / "chat.yaml"
    retrieval_yaml.write_text(yaml.safe_dump(doc))
    model = parse_dialog_model(doc)
    where = locate(model)
    candidates = list(synthetic.candidates(CANDIDATES, seed=7))
    write_records(where.version_dir.data_dir / "candidates.jsonl", candidates)
    corpus = [c.text for c in candidates] + [q for s in synthetic.sessions(200) for q in s.turns]
    create_random_bundle(model.spec, where.bundle_dir, texts=corpus, seed=1)
    assert cli(["build-index", "-f", str(retrieval_yaml), "--recall-sample", "50"]) == 0

    reranker = create_random_bundle(
        parse_dialog_model(dialog_model("rerank", "reranking", root)).spec, root / "reranker-export", texts=corpus, seed=2
    )
    scorer = create_random_bundle(
        parse_dialog_model(dialog_model("sessions", "session-scoring", root)).spec, root / "scorer-export",
        texts=corpus, seed=3,
    )
    return Artifacts(
        root, retrieval_yaml, where.bundle_dir, where.index_dir, reranker, scorer,
        [c.id for c in candidates], [c.text for c in candidates],
    )


class ServerProcess:
    """`rejoinder serve` in a subprocess; its stderr goes to a log file shown on failure."""

    def __init__(self, args: list[str], log_path: Path):
        self.port = free_port()
        self.metrics_port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rejoinder", "serve", *args, "--host", "127.0.0.1",
             "--port", str(self.port), "--metrics-port", str(self.metrics_port)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def health(self, service: str = "") -> Optional[str]:
        """SERVING / NOT_SERVING, or None while nothing answers."""
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        try:
            with grpc.insecure_channel(self.target) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
            return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.RpcError:
            return None

    def wait_serving(self, timeout: float = 180) -> list[str]:
        """Poll health until SERVING; returns the statuses seen on the way."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.logs()}")
            status = self.health()
            if status is not None and (not seen or seen[-1] != status):
                seen.append(status)
            if status == "SERVING":
                return seen
            time.sleep(0.2)
        raise AssertionError(f"server not SERVING after {timeout} s:\n{self.logs()}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def server(artifacts, tmp_path_factory) -> Iterator[ServerProcess]:
    """A retrieval server as the operator runs it (-f DialogModel), with a reranker; small batches
    and a small queue so overload is reachable."""
    proc = ServerProcess(
        ["-f", str(artifacts.retrieval_yaml), "--reranker-bundle", str(artifacts.reranker),
         "--max-batch-size", "8", "--queue-capacity", "8", "--max-delay-ms", "5", "--drain-delay", "0"],
        tmp_path_factory.mktemp("server") / "serve.log",
    )
    try:
        proc.wait_serving()
        yield proc
    finally:
        proc.stop()


@pytest.fixture()
def stub(server):
    import grpc

    from rejoinder.modelserver.protos import dialog_service_pb2_grpc as pb_grpc

    with grpc.insecure_channel(server.target) as channel:
        yield pb_grpc.DialogServiceStub(channel)


@pytest.fixture()
def start_server(tmp_path) -> Iterator:
    """Start extra servers in a test: start_server(args) → ServerProcess (stopped afterwards)."""
    started: list[ServerProcess] = []

    def start(args: list[str]) -> ServerProcess:
        proc = ServerProcess(args, tmp_path / f"serve-{len(started)}.log")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
