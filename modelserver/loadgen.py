"""gRPC load generator (`rejoinder bench`): concurrency, duration or count, optional target RPS.

`concurrency` client coroutines share one channel and send requests back to back (closed
loop); with `rps` set, request start times are spaced 1/rps apart across all of them (an open
loop capped by the concurrency). Latency percentiles are over successful requests; errors are
counted by gRPC status code.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional, Sequence

import grpc

from .protos import dialog_service_pb2 as pb
from .protos import dialog_service_pb2_grpc as pb_grpc

# Contexts used when no file is given: everyday openers of the kind a companion bot answers.
SAMPLE_CONTEXTS: tuple[tuple[str, ...], ...] = (
    ("Let's go to an early movie",),
    ("Hi! How was your day?",),
    ("I can't sleep again", "What's keeping you up?", "Work, mostly. Deadlines."),
    ("Do you like music?",),
    ("I just adopted a puppy!",),
    ("What should I cook tonight?",),
    ("I feel a bit lonely today",),
    ("Tell me something interesting",),
    ("I passed my exam!", "Congratulations! Which one?", "The driving test"),
    ("It's raining all week here",),
    ("Can you recommend a book?",),
    ("I'm thinking about learning to paint",),
)


@dataclass
class Report:
    method: str
    target: str
    concurrency: int
    requests: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rps: float = 0.0  # successful requests per second
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    mean_ms: float = 0.0
    target_rps: Optional[float] = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "none"
        return (
            f"{self.method} on {self.target}, concurrency {self.concurrency}: {self.requests} requests in "
            f"{self.seconds:.2f} s, {self.rps:.1f} OK/s; latency p50 {self.p50_ms:.2f} ms, p90 {self.p90_ms:.2f} ms, "
            f"p99 {self.p99_ms:.2f} ms, max {self.max_ms:.2f} ms; errors: {errors}"
        )


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def request_maker(method: str, contexts: Sequence[Sequence[str]], top_k: int = 0,
                  responses: Sequence[str] = ()) -> Callable[[int], Any]:
    """i → the i-th request of `method`, cycling through the contexts."""
    if not contexts:
        raise ValueError("no contexts to send")

    def make(i: int) -> Any:
        turns = list(contexts[i % len(contexts)])
        if method == "Retrieve":
            return pb.RetrieveRequest(context=turns, top_k=top_k)
        if method == "Respond":
            return pb.RespondRequest(context=turns, top_k=top_k)
        if method == "Rerank":
            return pb.RerankRequest(context=turns, responses=list(responses) or [c[-1] for c in contexts[:20]])
        if method == "ScoreSession":
            return pb.ScoreSessionRequest(turns=turns)
        if method == "ModelInfo":
            return pb.ModelInfoRequest()
        raise ValueError(f"unknown method {method!r}")

    return make


async def run_load(
    target: str,
    method: str,
    make_request: Callable[[int], Any],
    *,
    concurrency: int = 8,
    duration_s: Optional[float] = None,
    count: Optional[int] = None,
    rps: Optional[float] = None,
    timeout_s: float = 10.0,
    warmup: int = 0,
) -> Report:
    """Drive `method` on `target` until `duration_s` passes or `count` requests were sent."""
    if duration_s is None and count is None:
        raise ValueError("give a duration or a count")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.DialogServiceStub(channel)
        call = getattr(stub, method)
        for i in range(warmup):  # connection set-up and first-call costs stay out of the numbers
            await call(make_request(i), timeout=timeout_s)
        latencies: list[float] = []
        codes: Counter[str] = Counter()
        counter = itertools.count()
        started = time.perf_counter()
        deadline = started + duration_s if duration_s is not None else math.inf

        async def client() -> None:
            while True:
                i = next(counter)
                if (count is not None and i >= count) or time.perf_counter() >= deadline:
                    return
                if rps:
                    delay = started + i / rps - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                t0 = time.perf_counter()
                try:
                    await call(make_request(i), timeout=timeout_s)
                except grpc.aio.AioRpcError as error:
                    codes[error.code().name] += 1
                else:
                    latencies.append(time.perf_counter() - t0)
                    codes["OK"] += 1

        await asyncio.gather(*(client() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    latencies.sort()
    ms = [x * 1000.0 for x in latencies]
    return Report(
        method=method, target=target, concurrency=concurrency,
        requests=sum(codes.values()), ok=codes["OK"],
        errors={k: v for k, v in codes.items() if k != "OK"},
        seconds=seconds, rps=codes["OK"] / seconds if seconds > 0 else 0.0,
        p50_ms=percentile(ms, 50), p90_ms=percentile(ms, 90), p99_ms=percentile(ms, 99),
        max_ms=ms[-1] if ms else 0.0, mean_ms=sum(ms) / len(ms) if ms else 0.0, target_rps=rps,
    )
