"""Feedback throughput: reactions/s a server acknowledges durably, group commit vs fsync per record.

    python bench/bench_feedback.py [--duration 6] [--quick] [--write-docs] [--dir DIR]

Each configuration is a real `rejoinder serve` subprocess (a tiny random-init session-scoring
bundle: Feedback never touches the model) with its reaction log in `--dir` (default: a temporary
directory on the file system of this checkout — not tmpfs, where fsync costs nothing). Loadgen
clients send `Feedback` by context + response text, every request a distinct reaction (no
duplicates), at concurrency 1, 8 and 32, closed loop. An RPC returns OK only after its record is
written and fsync'd, so OK/s is durable reactions/s.

    group commit     --reaction-batch 256 (the default): one write + fsync per batch of waiting records
    fsync per record --reaction-batch 1

Reported per configuration and concurrency: OK/s, p50/p99 latency, and the group-commit speed-up
(OK/s ratio) measured in the same run. Every acknowledged reaction is checked to be in the
segments afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import Server, free_port  # noqa: E402
from benchdocs import DOCS, replace_section  # noqa: E402

HEADING = "## Feedback"
CONCURRENCY = (1, 8, 32)
CONFIGS = (("group commit (batch 256)", 256), ("fsync per record (batch 1)", 1))
TINY = {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "maxSeqLength": 32}


def make_bundle(work: Path) -> Path:
    from rejoinder.api import parse_dialog_model
    from rejoinder.models.bundle import create_random_bundle

    doc = {"apiVersion": "rejoinder.dev/v1alpha1", "kind": "DialogModel", "metadata": {"name": "bench-feedback"},
           "spec": {"task": "session-scoring", "data": {"preset": "chatterbot"},
                    "tokenizer": {"kind": "bpe", "vocabSize": 300}, "model": {"bert": TINY}}}
    return create_random_bundle(parse_dialog_model(doc).spec, work / "bundle", texts=[f"hello there, how was your day number {i}?" for i in range(200)], seed=0)


class FeedbackServer(Server):
    """bench_serving's server (health wait, SIGTERM stop), started for Feedback."""

    def __init__(self, bundle: Path, reactions: Path, batch: int, log: Path) -> None:  # no super().__init__: other flags
        self.port = free_port()
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rejoinder", "--log-level", "WARNING", "serve", "--bundle", str(bundle),
             "--port", str(self.port), "--metrics-port", "-1", "--drain-delay", "0",
             "--reactions-dir", str(reactions), "--reaction-batch", str(batch)],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )


def measure(port: int, concurrency: int, seconds: float, tag: str) -> dict[str, Any]:
    from rejoinder.modelserver import loadgen
    from rejoinder.modelserver.protos import dialog_service_pb2 as pb

    def make(i: int) -> Any:
        return pb.FeedbackRequest(context=[f"{tag} context {i}", "How was your day?"], response=f"response {i}",
                                  reaction=pb.UPVOTE if i % 3 else pb.DOWNVOTE, session_id=f"session-{i % 97}")

    report = asyncio.run(loadgen.run_load(f"127.0.0.1:{port}", "Feedback", make, concurrency=concurrency,
                                          duration_s=seconds, warmup=0, timeout_s=30))
    return report.to_json()


def markdown(results: dict[str, dict[int, dict[str, Any]]], seconds: float, load: float) -> str:
    group, single = (results[name] for name, _ in CONFIGS)
    lines = [
        "`python bench/bench_feedback.py` (`--write-docs` rewrites this section): a real `rejoinder serve` "
        "answering `Feedback` by context + response text, every request a distinct reaction, OK only after "
        "the record is written and fsync'd to a segment on this machine's ext4 disk; loadgen clients, closed loop, "
        f"{seconds:g} s per level; both configurations in one run (2-core shared VM, load average {load:.1f} at the end). "
        "Every acknowledged reaction was read back from the segments.",
        "",
        "| configuration | concurrency | durable reactions/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, _ in CONFIGS:
        for c, r in results[name].items():
            errors = ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "none"
            lines.append(f"| {name} | {c} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {errors} |")
    ratios = ", ".join(f"{group[c]['rps'] / max(single[c]['rps'], 1e-9):.2f}x at c={c}" for c in group)
    lines += ["", f"Group commit vs fsync per record (OK/s ratio, same run): {ratios}. At concurrency 1 there is "
              "only ever one record waiting, so both write one record per fsync; the gain comes with concurrent users."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per concurrency level")
    parser.add_argument("--quick", action="store_true", help="2 s per level (a smoke run)")
    parser.add_argument("--dir", type=Path, default=ROOT, help="where the temporary reaction logs go (a real disk)")
    parser.add_argument("--write-docs", action="store_true", help=f'replace "{HEADING}" in docs/benchmarks.md')
    parser.add_argument("--json", type=Path, help="also write all numbers here")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else args.duration

    from rejoinder.feedback.segments import read_reactions

    results: dict[str, dict[int, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(dir=args.dir, prefix=".bench-feedback-") as tmp:
        work = Path(tmp)
        bundle = make_bundle(work)
        for n, (name, batch) in enumerate(CONFIGS):
            reactions = work / f"reactions-{n}"
            server = FeedbackServer(bundle, reactions, batch, work / f"serve-{n}.log")
            try:
                server.wait_serving()
                results[name] = {}
                for c in CONCURRENCY:
                    results[name][c] = r = measure(server.port, c, seconds, f"{n}-{c}")
                    print(f"{name}, c={c}: {r['rps']:.0f} OK/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
                          f"errors {r['errors'] or 'none'}", flush=True)
            finally:
                server.stop()
            logged = sum(1 for _ in read_reactions(reactions))
            acknowledged = sum(r["ok"] for r in results[name].values())
            if logged != acknowledged:
                raise SystemExit(f"{name}: {acknowledged} reactions acknowledged but {logged} in the segments")
    load = os.getloadavg()[0]
    text = markdown(results, seconds, load)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "seconds": seconds, "load": load,
                                         "machine": platform.machine()}, indent=2))
    if args.write_docs:
        replace_section(DOCS, HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
