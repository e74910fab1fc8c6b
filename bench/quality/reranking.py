"""Reranking on real text: does Respond (retrieve + rerank) answer better than Retrieve alone?

In one run, under one artifacts root:
  1. the retrieval model (the quickstart recipe, one rank) is trained and indexed;
  2. two rerankers are trained on proxy reactions mined from *its* hard negatives
     (data.negativesFrom): the QA-LSTM+MLP baseline and a BERT cross-encoder from MiniLM;
  3. for each, a real `rejoinder serve` (gRPC on 127.0.0.1) serves the retrieval model with that
     reranker, and every held-out context of the retrieval model is sent as Retrieve and as
     Respond: R@1 = the served top answer is the held-out reply;
  4. RPS of Respond (retrieve top-20 + rerank 20) at concurrency 8, under the benchmark lock.

Accuracy/AUC are on the reranker's held-out proxy reactions (1 upvote : negativesPerContext
downvotes per context): proxy labels, not user feedback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import runs

log = logging.getLogger(__name__)

HEADING = "## Reranking"

RETRIEVAL_NAME = "chat-retrieval"
TOP_K = 20
LOCK = "/tmp/rejoinder-bench.lock"

# The quickstart's recipe (examples/quickstart.yaml) on one rank.
RETRIEVAL: dict[str, Any] = {
    "task": "retrieval",
    "model": {"architecture": "bert", "init": runs.MINILM,
              "bert": {"layers": 3, "hidden": 384, "heads": 12, "intermediate": 1536, "maxSeqLength": 48, "pooling": "mean"}},
    "tokenizer": {"kind": "wordpiece"},
    "data": {"preset": "chatterbot", "maxContextTurns": 2},
    "training": {"gpusPerWorker": 0, "steps": 150, "batchSizePerGpu": 32, "learningRate": 5e-5, "warmupSteps": 15,
                 "checkpointInterval": 50, "controller": "gloo"},
}

MAX_TURNS = RETRIEVAL["data"]["maxContextTurns"]

_RERANK_DATA = {"preset": "chatterbot", "negativesFrom": RETRIEVAL_NAME, "negativesPerContext": 3, "maxContextTurns": 2}
_RERANK_TRAINING = {"gpusPerWorker": 0, "steps": 250, "batchSizePerGpu": 32, "warmupSteps": 25, "checkpointInterval": 100}

RERANKERS: dict[str, dict[str, Any]] = {
    "QA-LSTM + MLP": {
        "task": "reranking",
        "model": {"architecture": "qa-lstm", "qaLstm": {"embeddingDim": 128, "hiddenUnits": 128, "mlpUnits": 256},
                  "bert": {"maxSeqLength": 48, "contextLength": 24, "responseLength": 24}},
        "tokenizer": {"kind": "bpe", "vocabSize": 4000},
        "data": _RERANK_DATA,
        "training": {**_RERANK_TRAINING, "learningRate": 1e-3},
        "serving": {"enabled": False},
    },
    # 6 layers: cutting MiniLM to 3 throws its sentence semantics away (docs/quality.md, retrieval).
    "BERT (MiniLM, 6 layers)": {
        "task": "reranking",
        "model": {"architecture": "bert", "init": runs.MINILM,
                  "bert": {"layers": 6, "hidden": 384, "heads": 12, "intermediate": 1536, "maxSeqLength": 48,
                           "contextLength": 24, "responseLength": 24, "pooling": "mean"}},
        "tokenizer": {"kind": "wordpiece"},
        "data": _RERANK_DATA,
        "training": {**_RERANK_TRAINING, "steps": 200, "warmupSteps": 20, "learningRate": 5e-5},
        "serving": {"enabled": False},
    },
}


def _name(label: str) -> str:
    return "rerank-" + ("qa-lstm" if label.startswith("QA") else "bert")


def _die_with_parent() -> None:
    """In the server child: SIGTERM when the bench dies, however it ends (Linux prctl)."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class Server:
    """`rejoinder serve -f <retrieval> --reranker-bundle <reranker>` as a child process."""

    def __init__(self, spec_file: Path, reranker: Path, log_file: Path):
        from rejoinder.local.commands import Endpoint
        from rejoinder.local.runner import free_port

        self.endpoint = Endpoint("127.0.0.1", free_port(), free_port())
        self.target = self.endpoint.address
        self.log = open(log_file, "w", encoding="utf-8")
        argv = [sys.executable, "-m", "rejoinder", "--log-level", "WARNING", "serve", "-f", str(spec_file),
                "--reranker-bundle", str(reranker), "--port", str(self.endpoint.port), "--metrics-port", "-1",
                "--top-k", str(TOP_K)]
        env = {**os.environ, "PYTHONSAFEPATH": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                     preexec_fn=_die_with_parent)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.log.close()

    def __enter__(self) -> "Server":
        from rejoinder.local.runner import wait_serving

        try:
            wait_serving(self.proc, self.endpoint, timeout=600)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def served_recall_at_1(target: str, held: Sequence[Any]) -> dict[str, Any]:
    """Retrieve's and Respond's R@1 over the held-out pairs, and how often the reply was in the top-k."""
    import grpc

    from rejoinder.modelserver.protos import dialog_service_pb2 as pb
    from rejoinder.modelserver.protos import dialog_service_pb2_grpc as pb_grpc

    retrieve = respond = in_top = 0
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.DialogServiceStub(channel)
        for pair in held:
            context = list(pair.context[-MAX_TURNS:])  # the turns the models read (the server caps turns)
            got = stub.Retrieve(pb.RetrieveRequest(context=context, top_k=TOP_K), timeout=60)
            answer = stub.Respond(pb.RespondRequest(context=context, top_k=TOP_K), timeout=60)
            assert answer.reranked, "Respond did not rerank: the reranker is not loaded"
            retrieve += got.candidates[0].text == pair.response
            respond += answer.best.text == pair.response
            in_top += any(c.text == pair.response for c in got.candidates)
    n = len(held)
    return {"retrieveR1": retrieve / n, "respondR1": respond / n, f"recall@{TOP_K}": in_top / n, "queries": n}


def respond_rps(target: str, contexts: Sequence[Sequence[str]], seconds: float = 10.0) -> float:
    """Respond requests per second at concurrency 8 (closed loop). Caller holds the bench lock."""
    from rejoinder.modelserver import loadgen

    report = asyncio.run(loadgen.run_load(target, "Respond", loadgen.request_maker("Respond", contexts, top_k=TOP_K),
                                          concurrency=8, duration_s=seconds, warmup=16, timeout_s=60))
    if report.errors:
        raise RuntimeError(f"Respond load test failed: {report.errors}")
    return report.rps


def _with_lock(fn: Any, wait_s: float) -> Any:
    """fn() while holding the benchmark lock; None when another benchmark holds it past wait_s
    (the RPS column then says "not measured" rather than a number taken under load)."""
    import fcntl
    import time

    with open(LOCK, "a") as lock:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    log.warning("the benchmark lock %s stayed busy for %.0f s: Respond RPS not measured", LOCK, wait_s)
                    return None
                time.sleep(2)
        try:
            return fn()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def measure(work: Path, rps_seconds: float = 10.0, lock_wait_s: float = 180.0) -> dict[str, Any]:
    from rejoinder.artifacts import ModelLayout
    from rejoinder.text.formats import RecordKind, read_records

    artifacts = work / "artifacts"
    retrieval = runs.dialog_model(RETRIEVAL_NAME, RETRIEVAL, artifacts)
    spec_file = runs.write_spec(retrieval, work / f"{RETRIEVAL_NAME}.yaml")
    log.info("training the retrieval model %s", RETRIEVAL_NAME)
    retrieval_report = runs.train(retrieval, artifacts)
    subprocess.run([sys.executable, "-m", "rejoinder", "--log-level", "WARNING", "build-index", "-f", str(spec_file)],
                   check=True, env={**os.environ, "PYTHONSAFEPATH": "1", "TF_CPP_MIN_LOG_LEVEL": "2"})
    export = runs.export_dir(artifacts, RETRIEVAL_NAME)
    held = list(read_records(export.parent / "data" / "eval.jsonl", RecordKind.pairs))
    results: dict[str, Any] = {"retrieval": {"metrics": retrieval_report["metrics"], "eval": retrieval_report["eval"]},
                               "rerankers": {}}
    for label, spec in RERANKERS.items():
        name = _name(label)
        log.info("training reranker %s (%s)", name, label)
        report = runs.train(runs.dialog_model(name, spec, artifacts), artifacts)
        reranker = runs.export_dir(artifacts, name)
        row: dict[str, Any] = {
            "metrics": report["metrics"], "baselines": report.get("baselines", {}), "eval": report["eval"],
            "labels": report.get("labels"), "trainSeconds": report["training"]["seconds"],
            "parameters": runs.parameters(reranker),
            "sequence": (spec["model"]["bert"]["contextLength"], spec["model"]["bert"]["responseLength"]),
        }
        with Server(spec_file, reranker, work / f"serve-{name}.log") as server:
            row["served"] = served_recall_at_1(server.target, held)
            log.info("%s: %s", label, json.dumps(row["served"]))
            contexts = [p.context[-MAX_TURNS:] for p in held]
            row["respondRps"] = _with_lock(lambda: respond_rps(server.target, contexts, rps_seconds), lock_wait_s)
        results["rerankers"][label] = row
    results["layout"] = str(ModelLayout.for_model(artifacts, runs.NAMESPACE, RETRIEVAL_NAME).root)
    return results


def _rps(value: Any) -> str:
    return "not measured (lock busy)" if value is None else f"{value:.1f}"


def markdown(results: Mapping[str, Any]) -> str:
    first = next(iter(results["rerankers"].values()))
    labels = first.get("labels") or {}
    served = first["served"]
    lines = [
        "`python bench/bench_quality.py --section reranking` — chatterbot, one run. Rerankers are trained on "
        f"**proxy reactions, not user feedback**: per context of the retrieval model's own split, its reply is an "
        f"upvote and its {labels.get('negativesPerContext', '?')} highest-ranked wrong top-{labels.get('topK', TOP_K)} "
        "candidates are downvotes (`data.negativesFrom`). *Accuracy / AUC*: held-out proxy reactions (1 up : "
        f"{labels.get('negativesPerContext', '?')} down, majority accuracy "
        f"{first['baselines'].get('majority', {}).get('accuracy', float('nan')):.3f}). *R@1*: the served answer "
        f"is the held-out reply, over the retrieval model's {served['queries']} held-out contexts, through a real "
        f"`rejoinder serve` (gRPC): Retrieve's top hit vs Respond's reranked best of top {TOP_K} (the reply is in "
        f"that top {TOP_K} for {served[f'recall@{TOP_K}']:.3f} of them). *Respond RPS*: retrieve {TOP_K} + rerank "
        "them, concurrency 8, this CPU, under the benchmark lock.",
        "",
        "| reranker | labels | accuracy | ROC-AUC | sequence (ctx + resp) | parameters | Retrieve R@1 | Respond R@1 | gain | Respond RPS | train s |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, row in results["rerankers"].items():
        s = row["served"]
        ctx, resp = row["sequence"]
        lines.append(
            f"| {label} | proxy | {row['metrics']['accuracy']:.3f} | {row['metrics']['roc_auc']:.3f} | {ctx} + {resp} | "
            f"{row['parameters']:,} | {s['retrieveR1']:.3f} | {s['respondR1']:.3f} | "
            f"{(s['respondR1'] - s['retrieveR1']) * 100:+.1f} pts | {_rps(row['respondRps'])} | {row['trainSeconds']:.0f} |"
        )
    return "\n".join(lines)


def add_arguments(parser: Any) -> None:
    runs.add_work_argument(parser, "reranking")


def run(args: Any) -> str:
    """The section's markdown body (bench/bench_quality.py --section reranking)."""
    return runs.run_section(args.reranking_work, "reranking", measure, markdown)
