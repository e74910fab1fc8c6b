"""The seed's serving ladder on this machine: seq 128 → seq 80 → +XLA → +mixed precision → +batchifier.

    python bench/bench_serving.py [--duration 6] [--write-docs]
    python bench/bench_serving.py --chat-length [--write-docs]   (bench_chat_length.py: sequence buckets)

Every rung is a real `rejoinder serve` subprocess answering `Retrieve` (context encoder + FAISS
flat search over 100k candidates) to `rejoinder.modelserver.loadgen` clients at concurrency
1, 8 and 32. The model is the default DialogModel BERT (4 layers, hidden 256, 4 heads),
random-initialised (speed does not depend on the weights). The 100k index vectors are
embedding-like draws (bench_index.embedding_like), not encoder outputs: encoding 100k
candidates per rung would take longer than the rung; the search cost is the same.

Reported per rung and concurrency: server RPS, p50/p99 latency, gain over the per-request rung
with the same model settings, and server RPS / the raw model's own batched throughput (the
same bundle, in process, encode_contexts + search on full batches with no gRPC).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import embedding_like  # noqa: E402
from benchdocs import DOCS, replace_section  # noqa: E402

CONCURRENCY = (1, 8, 32)
INDEX_SIZE = 100_000


@dataclass(frozen=True)
class Rung:
    name: str
    seq: int
    xla: bool
    precision: str  # none | bfloat16 | float16
    batch: int  # max batch size; 1 = per-request serving
    delay_ms: float = 0.0
    serve_args: tuple[str, ...] = ()  # more `rejoinder serve` flags (sequence buckets, token budget)


def spec_doc(seq: int) -> dict[str, Any]:
    return {
        "apiVersion": "rejoinder.dev/v1alpha1", "kind": "DialogModel", "metadata": {"name": f"bench-{seq}"},
        "spec": {"task": "retrieval", "data": {"preset": "chatterbot"},
                 "model": {"bert": {"maxSeqLength": seq, "contextLength": min(60, seq - 20), "responseLength": 20}}},
    }


def make_artifacts(work: Path, seqs: tuple[int, ...]) -> tuple[dict[int, Path], Path]:
    from rejoinder.api import parse_dialog_model
    from rejoinder.models.bundle import create_random_bundle
    from rejoinder.modelserver import index as ix

    bundles = {}
    for seq in seqs:
        bundles[seq] = create_random_bundle(parse_dialog_model(spec_doc(seq)).spec, work / f"bundle-{seq}", seed=seq)
    vectors = embedding_like(INDEX_SIZE, 256, seed=0)
    index, params = ix.build(vectors, ix.IndexParams("flat"))
    target = work / "index"
    ids = [f"r{i:06d}" for i in range(INDEX_SIZE)]
    ix.publish(target, index, ids, [f"candidate response {i}" for i in range(INDEX_SIZE)],
               {"params": params.to_json(), "count": INDEX_SIZE, "dim": 256, "indexVersion": "i-bench"})
    return bundles, target


def contexts(n: int = 256) -> list[list[str]]:
    from rejoinder.datasets import synthetic

    return [list(p.context) for p in synthetic.pairs(n, seed=5)]


RAW_BATCHES = (8, 32)


class RawModel:
    """The bundle itself in this process (encode + search on full batches, no server, no gRPC):
    the ceiling a server can reach. Best over RAW_BATCHES: on a CPU a batch of 32 is not always
    faster per row than a batch of 8."""

    def __init__(self, bundle_dir: Path, index_dir: Path, rung: Rung):
        from rejoinder.modelserver.index import LoadedIndex
        from rejoinder.modelserver.loading import load_model_bundle

        precision = "float32" if rung.precision == "none" else rung.precision
        self.bundle = load_model_bundle(bundle_dir, precision, rung.xla, RAW_BATCHES)
        self.index = LoadedIndex.load(index_dir)
        self.bundle.warmup()

    def model_only_per_s(self, seconds: float, size: int = 32) -> float:
        ctx = contexts(size)
        self.bundle.encode_contexts(ctx)
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            self.bundle.encode_contexts(ctx)
            done += size
        return done / (time.perf_counter() - start)

    def contexts_per_s(self, seconds: float) -> float:
        best = 0.0
        for size in RAW_BATCHES:
            ctx = contexts(size * 4)
            batches = [ctx[i : i + size] for i in range(0, len(ctx), size)]
            self.index.search(self.bundle.encode_contexts(batches[0]), 20)
            done, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                self.index.search(self.bundle.encode_contexts(batches[done // size % len(batches)]), 20)
                done += size
            best = max(best, done / (time.perf_counter() - start))
        return best


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, bundle: Path, index: Path, rung: Rung, log: Path):
        self.port = free_port()
        self.metrics_port = free_port()
        args = [
            sys.executable, "-m", "rejoinder", "--log-level", "WARNING", "serve", "--bundle", str(bundle),
            "--index", str(index), "--port", str(self.port), "--metrics-port", str(self.metrics_port),
            "--drain-delay", "0",
            "--max-batch-size", str(rung.batch), "--max-delay-ms", str(rung.delay_ms),
            # this ladder measures TensorFlow's settings; a rung's serve_args may name another runtime
            "--precision", rung.precision, "--xla" if rung.xla else "--no-xla", "--runtime", "tensorflow", *rung.serve_args,
        ]
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})

    def wait_serving(self, timeout: float = 300) -> None:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}")
                try:
                    if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.5)
        raise TimeoutError("server not SERVING")

    def metric(self, sample: str) -> float:
        """One sample of the server's /metrics, e.g. 'rejoinder_warmup_seconds' or
        'rejoinder_batch_tokens_total{batcher="retrieve",kind="padded"}' (0 if absent)."""
        import re
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        found = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.M)
        return float(found.group(1)) if found else 0.0

    def batches(self) -> tuple[float, float]:
        """(rows, model calls) of the retrieve batchifier so far, from /metrics."""
        return (self.metric('rejoinder_batch_size_sum{batcher="retrieve"}'),
                self.metric('rejoinder_batch_size_count{batcher="retrieve"}'))

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.log.close()


def measure(target: str, concurrency: int, seconds: float, sent: Optional[list[list[str]]] = None) -> dict[str, Any]:
    from rejoinder.modelserver import loadgen

    report = asyncio.run(loadgen.run_load(
        target, "Retrieve", loadgen.request_maker("Retrieve", sent or contexts()), concurrency=concurrency,
        duration_s=seconds, warmup=20, timeout_s=60,
    ))
    return report.to_json()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per concurrency level")
    parser.add_argument("--raw-seconds", type=float, default=2.0, help="seconds of raw throughput per batch size")
    parser.add_argument("--mixed", default="bfloat16", choices=["bfloat16", "float16"], help="mixed precision rung")
    parser.add_argument("--write-docs", action="store_true", help='replace "## Serving" in docs/benchmarks.md')
    parser.add_argument("--json", type=Path, help="also write all numbers here")
    parser.add_argument("--from-json", type=Path, help="only render the table of an earlier --json run")
    parser.add_argument("--load", type=float, help="with --from-json: the load average that run ended with")
    parser.add_argument("--chat-length", action="store_true",
                        help='instead: fixed length vs sequence buckets vs + token budget on held-out chatterbot '
                             'contexts, and the 100k index build before/after ("## Serving at chat length")')
    if "--chat-length" in sys.argv[1:]:  # its own flags (bench_chat_length.py)
        import bench_chat_length

        rest = [a for a in sys.argv[1:] if a not in ("--chat-length", "--write-docs")]
        return bench_chat_length.main(rest, write_docs="--write-docs" in sys.argv[1:])
    args = parser.parse_args()
    if args.from_json:
        results = json.loads(args.from_json.read_text())
        for row in results:  # JSON object keys are strings
            row["levels"] = {int(c): v for c, v in row["levels"].items()}
        text = markdown(results, args.duration, args.load)
        print(text)
        if args.write_docs:
            replace_section(DOCS, "## Serving", text)
        return 0

    ladder = [
        Rung("seq 128, float32, per request", 128, False, "none", 1),
        Rung("seq 80", 80, False, "none", 1),
        Rung("+ XLA", 80, True, "none", 1),
        Rung(f"+ mixed precision ({args.mixed})", 80, True, args.mixed, 1),
    ]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("creating bundles and the 100k index ...", flush=True)
        bundles, index_dir = make_artifacts(work, (128, 80))

        def run_rung(rung: Rung) -> dict[str, Any]:
            # The machine is shared and its load drifts: the ceiling is measured right before and
            # right after each concurrency level, and each level is compared with that mean.
            raw_model = RawModel(bundles[rung.seq], index_dir, rung)
            model_only = raw_model.model_only_per_s(args.raw_seconds * 2)
            server = Server(bundles[rung.seq], index_dir, rung, work / f"serve-{len(results)}.log")
            try:
                server.wait_serving()
                levels = {}
                for c in CONCURRENCY:
                    before = raw_model.contexts_per_s(args.raw_seconds)
                    rows0, calls0 = server.batches()
                    levels[c] = measure(f"127.0.0.1:{server.port}", c, args.duration)
                    rows1, calls1 = server.batches()
                    after = raw_model.contexts_per_s(args.raw_seconds)
                    levels[c]["mean_batch"] = (rows1 - rows0) / max(1.0, calls1 - calls0)
                    levels[c]["raw"] = (before + after) / 2
            finally:
                server.stop()
            del raw_model
            raw = sum(lv["raw"] for lv in levels.values()) / len(levels)
            row = {"rung": rung.__dict__, "raw_batched_contexts_per_s": raw, "model_only_contexts_per_s": model_only,
                   "levels": levels}
            print(json.dumps({"rung": rung.name, "raw": round(raw, 1),
                              **{f"c{c}": round(levels[c]["rps"], 1) for c in CONCURRENCY}}), flush=True)
            return row

        for rung in ladder:
            results.append(run_rung(rung))
        # batchify with the faster of the two precisions measured at XLA
        xla_fp32, xla_mixed = results[2], results[3]
        best = xla_mixed if xla_mixed["levels"][32]["rps"] > xla_fp32["levels"][32]["rps"] else xla_fp32
        precision = best["rung"]["precision"]
        label = "float32" if precision == "none" else precision
        for batch in (32, 16):  # 16: two half-batches alternate under 32 closed-loop clients
            results.append(run_rung(Rung(f"+ batchifier (max batch {batch}, 5 ms, {label})", 80, True, precision, batch, 5.0)))
            results[-1]["baseline"] = results.index(best)

    text = markdown(results, args.duration, os.getloadavg()[0])
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.write_docs:
        replace_section(DOCS, "## Serving", text)
        print(f"updated {DOCS}")
    return 0


def markdown(results: list[dict[str, Any]], duration: float, load: Optional[float] = None) -> str:
    import tensorflow as tf

    lines = [
        f"`python bench/bench_serving.py` — `Retrieve` through a real `rejoinder serve` (gRPC, batchifier, "
        f"FAISS flat search over {INDEX_SIZE:,} candidates, top 20), {duration:.0f} s per concurrency level, "
        f"clients in another process on the same {os.cpu_count()} cores ({platform.machine()}, TensorFlow "
        f"{tf.__version__}, CPU only). Model: the default DialogModel BERT (4 layers, hidden 256, 4 heads), "
        "random-initialised. *raw* = the same bundle in the benchmark's process on full batches (encode + search, "
        f"no gRPC; the better of batches of {' and '.join(map(str, RAW_BATCHES))}), measured just before and just "
        "after each concurrency level (the column shows the rung's mean): the ceiling a server can reach. "
        "*vs raw* = server RPS / the raw rate around that level; *model ctx/s* = the encoder alone on "
        "batches of 32 (no search), to show what the ladder's model settings buy; *gain* = RPS / the per-request rung with the same model settings at the same "
        "concurrency; *mean batch* = rows per model call (from the server's metrics). Clients are closed-loop: "
        "each sends its next request when the last is answered."
        + (f" The machine is shared: load average {load:.1f} at the end of the run." if load is not None else ""),
        "",
        "| rung | model ctx/s | raw ctx/s | c | RPS | vs raw | gain | mean batch | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, row in enumerate(results):
        base = results[row.get("baseline", i)]
        for c in CONCURRENCY:
            lv = row["levels"][c]
            gain = lv["rps"] / base["levels"][c]["rps"] if base["levels"][c]["rps"] else 0.0
            name = row["rung"]["name"] if c == CONCURRENCY[0] else ""
            raw = f"{row['raw_batched_contexts_per_s']:.0f}" if c == CONCURRENCY[0] else ""
            model = f"{row['model_only_contexts_per_s']:.0f}" if c == CONCURRENCY[0] and "model_only_contexts_per_s" in row else ""
            lines.append(
                f"| {name} | {model} | {raw} | {c} | {lv['rps']:.1f} | {lv['rps'] / lv.get('raw', row['raw_batched_contexts_per_s']):.2f} | "
                f"{gain:.2f}× | {lv['mean_batch']:.1f} | {lv['p50_ms']:.1f} | {lv['p99_ms']:.1f} | "
                f"{sum(lv['errors'].values())} |"
            )
    return "\n".join(lines + ["", *conclusions(results)]) + "\n"


def conclusions(results: list[dict[str, Any]]) -> list[str]:
    """One line per rung: what it bought, from the numbers above (nothing hand-written)."""
    def raw(i: int) -> float:
        return results[i]["raw_batched_contexts_per_s"]

    def rps(i: int, c: int) -> float:
        return results[i]["levels"][c]["rps"]

    def vs_raw(i: int, c: int) -> float:
        level = results[i]["levels"][c]
        return level["rps"] / level.get("raw", raw(i))

    def model(i: int, j: int) -> str:
        a, b = results[i].get("model_only_contexts_per_s"), results[j].get("model_only_contexts_per_s")
        return f"encoder ×{a / b:.2f}, " if a and b else ""

    mixed = results[3]["rung"]["precision"]
    lines = [
        f"- seq 128 → 80: {model(1, 0)}raw (encode + search) ×{raw(1) / raw(0):.2f}, "
        f"per-request RPS at c=1 ×{rps(1, 1) / rps(0, 1):.2f}.",
        f"- XLA: {model(2, 1)}raw ×{raw(2) / raw(1):.2f}, per-request RPS at c=1 "
        f"×{rps(2, 1) / rps(1, 1):.2f}.",
        f"- mixed precision ({mixed}) on this CPU: {model(3, 2)}raw ×{raw(3) / raw(2):.2f}, "
        f"per-request RPS at c=1 ×{rps(3, 1) / rps(2, 1):.2f} — "
        + ("it helps here." if raw(3) > 1.05 * raw(2) else "not a clear gain here, so the batchifier rungs use "
           "float32 (`auto` picks float32 on CPUs, float16 on GPUs)."),
        "- per-request serving is bounded by one FAISS flat search (100k × 256) per request as much as by the "
        "encoder, which is why the model settings move per-request RPS so little; batching amortises both.",
        "- the ladder keeps each rung's setting in order, as the seed did; XLA stays on for the batchifier rungs "
        "even where the encoder column shows it slower on this CPU (TensorFlow's oneDNN kernels vs XLA's CPU code) "
        "— on a CPU-only deployment measure `spec.serving.xla: false`.",
    ]
    encode_rate = results[1].get("model_only_contexts_per_s") or raw(1)
    lines.append(
        f"- build-index encodes candidates with the same encoder (no XLA): at the seq-80 rate ({encode_rate:.0f}/s "
        f"here) 100,000 candidates take ≈{100_000 / encode_rate / 60:.0f} min on this shared 2-core CPU (FAISS "
        "build time: see Index); encoding, not indexing, bounds the build."
    )
    for i in range(4, len(results)):
        base = results[i]["baseline"]
        lines.append(
            f"- {results[i]['rung']['name'][2:]}: at c=32 ×{rps(i, 32) / rps(base, 32):.2f} over per-request serving, "
            f"{vs_raw(i, 32):.2f} of the raw batched throughput (mean batch "
            f"{results[i]['levels'][32]['mean_batch']:.1f}); at c=8 {vs_raw(i, 8):.2f} of raw."
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
