"""FAISS's OpenMP threads for a model server's exact search, on an idle and on a busy machine.

    python bench/bench_search_threads.py [--count 100000] [--dim 384] [--write-docs]

A model server's searches are batches of 1–32 queries over the whole index. FAISS splits each
search over its OpenMP team and joins it at a barrier after every block of the database; when one
thread of the team is descheduled — by the server's own event loop, a sidecar, a neighbour on the
node — every barrier waits for it. This measures ms per search of 1, 13 (the mean batch of the
chat-length `Retrieve` run at concurrency 32) and 32 queries with 1 and with 2 threads, in one
run, under three loads: idle; two busy loops at nice 19 (the mildest neighbour there is); one busy
loop at nice 0 (a second process at the server's own priority, e.g. its load generator).
Vectors: embedding-like draws (bench_index.embedding_like), the quickstart's 384 dimensions.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import embedding_like  # noqa: E402
from benchdocs import DOCS, replace_section  # noqa: E402

HEADING = "## Search threads"
BATCHES = (1, 13, 32)
THREADS = (1, 2)
LOADS = {"idle": (), "2 busy loops at nice 19": (19, 19), "1 busy loop at nice 0": (0,)}
BUSY = "while True: pass"


@contextmanager
def busy_loops(nices: tuple[int, ...]) -> Iterator[None]:
    procs = [subprocess.Popen(["nice", "-n", str(n), sys.executable, "-c", BUSY]) for n in nices]
    try:
        time.sleep(0.5 if procs else 0)
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def ms_per_search(index: Any, queries: np.ndarray, seconds: float) -> float:
    index.search(queries, 20)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done < 3:
        index.search(queries, 20)
        done += 1
    return (time.perf_counter() - start) / done * 1000


def run(count: int, dim: int, seconds: float) -> list[dict[str, Any]]:
    import faiss

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from rejoinder.modelserver.index import use_blas_for_batches

    drawn = embedding_like(count + max(BATCHES), dim, seed=0)
    index = faiss.IndexFlatIP(dim)
    index.add(drawn[:count])
    queries = drawn[count:]
    use_blas_for_batches()  # as a server's LoadedIndex does
    rows = []
    for load, nices in LOADS.items():
        with busy_loops(nices):
            for threads in THREADS:
                faiss.omp_set_num_threads(threads)
                for nq in BATCHES:
                    ms = ms_per_search(index, queries[:nq], seconds)
                    rows.append({"load": load, "threads": threads, "queries": nq, "ms": ms})
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict[str, Any]], count: int, dim: int) -> str:
    ms = {(r["load"], r["threads"], r["queries"]): r["ms"] for r in rows}
    head = (f"`python bench/bench_search_threads.py` — exact inner-product search (IndexFlatIP) over {count:,} × {dim} "
            f"embedding-like vectors, top 20, one run; faiss {__import__('faiss').__version__}, {platform.machine()}, "
            "2 cores. ms per search call; *2 ÷ 1* = the 2-thread time over the 1-thread time (below 1: two threads "
            "help).\n\n")
    lines = ["| load | queries per search | 1 thread ms | 2 threads ms | 2 ÷ 1 |", "|---|---:|---:|---:|---:|"]
    for load in LOADS:
        for nq in BATCHES:
            one, two = ms[(load, 1, nq)], ms[(load, 2, nq)]
            lines.append(f"| {load} | {nq} | {one:.1f} | {two:.1f} | {two / one:.2f} |")
    return head + "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    rows = run(args.count, args.dim, args.seconds)
    text = table(rows, args.count, args.dim)
    print(text)
    if args.write_docs:
        replace_section(DOCS, HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
