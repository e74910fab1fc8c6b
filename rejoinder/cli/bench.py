"""`rejoinder bench`: gRPC load generator against a running model server.

Reports requests, successful requests per second, latency p50/p90/p99 and errors by gRPC code;
--json writes the same as one JSON object (to stdout, or to --output).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..constants import LOCAL_TARGET

METHODS = {"respond": "Respond", "retrieve": "Retrieve", "rerank": "Rerank", "score-session": "ScoreSession", "info": "ModelInfo"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="gRPC load generator for a running model server", description=__doc__)
    parser.add_argument("--target", default=LOCAL_TARGET, help=f"server address (default {LOCAL_TARGET})")
    parser.add_argument("--method", choices=sorted(METHODS), default="retrieve")
    parser.add_argument("-c", "--concurrency", type=int, default=8, help="concurrent clients")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-d", "--duration", type=float, help="seconds to run (default 10)")
    group.add_argument("-n", "--count", type=int, help="requests to send")
    parser.add_argument("--rps", type=float, help="target request rate (default: as fast as the clients go)")
    parser.add_argument("-k", "--top-k", type=int, default=0)
    parser.add_argument("--contexts", type=Path, help="JSONL of {\"context\": [turns]} (or pairs); default: built-in samples")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request deadline, seconds")
    parser.add_argument("--warmup", type=int, default=10, help="requests sent before measuring")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("-o", "--output", type=Path, help="also write the JSON report to this file")
    parser.set_defaults(run=run)


def _load_contexts(path: Path) -> list[list[str]]:
    contexts = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            turns = obj.get("context") or obj.get("turns") if isinstance(obj, dict) else None
            if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
                raise ValueError(f"{path}:{number}: expected an object with a \"context\" list of strings")
            contexts.append(turns)
    return contexts


def run(args: argparse.Namespace) -> int:
    import asyncio

    import grpc

    from rejoinder.modelserver import loadgen

    if args.concurrency < 1:
        print("--concurrency must be at least 1", file=sys.stderr)
        return 2
    try:
        contexts = _load_contexts(args.contexts) if args.contexts else list(loadgen.SAMPLE_CONTEXTS)
    except (OSError, ValueError) as error:
        print(error, file=sys.stderr)
        return 2
    method = METHODS[args.method]
    duration = args.duration if args.duration is not None or args.count is not None else 10.0
    try:
        report = asyncio.run(
            loadgen.run_load(
                args.target, method, loadgen.request_maker(method, contexts, args.top_k),
                concurrency=args.concurrency, duration_s=duration, count=args.count, rps=args.rps,
                timeout_s=args.timeout, warmup=args.warmup,
            )
        )
    except grpc.aio.AioRpcError as error:  # the warm-up requests failed: nothing to measure
        print(f"{args.target}: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    text = json.dumps(report.to_json(), indent=2)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    print(text if args.json else report.summary())
    return 0 if report.ok else 1
