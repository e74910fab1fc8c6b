"""Serving at chat length: fixed length vs sequence buckets vs buckets + a token budget, one run.

    python bench/bench_serving.py --chat-length [--duration 8] [--write-docs]

The model is the quickstart's (examples/quickstart.yaml: a MiniLM-size BERT, its layers, hidden
384, maxSeqLength 48, its WordPiece vocabulary), random-initialised: speed does not depend on
the weights. Requests are the held-out chatterbot contexts of the quickstart's eval split (its
last maxContextTurns turns, as served). Each configuration is a real `rejoinder serve`
subprocess answering `Retrieve` (context encoder + FAISS flat search over 100k embedding-like
vectors, top 20) to loadgen clients at concurrency 1, 8 and 32:

    fixed            --sequence-buckets <maxSeqLength>   every row padded to 48 (the old behaviour)
    buckets          the default buckets 16, 32, 48
    buckets + budget the default buckets and --max-batch-tokens (default 512 = 32 rows × 16)

*raw* is the same bundle with the same buckets in this process, encoding the same contexts in
sorted batches of 32 plus one search per batch (no gRPC): the ceiling a server can reach,
measured just before and just after each level. *padded len* = padded tokens / rows from the
server's own metrics (rejoinder_batch_tokens_total, rejoinder_batch_size_sum).

Then the index build: `build_and_publish` of 100k candidates (the chatterbot candidate texts
cycled to 100k, so lengths are real chat responses) with the bundle loaded as `build-index`
loads it, fixed length vs the default buckets, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import embedding_like  # noqa: E402
from bench_serving import CONCURRENCY, INDEX_SIZE, Rung, Server, measure  # noqa: E402
from benchdocs import DOCS, replace_section  # noqa: E402

HEADING = "## Serving at chat length"
QUICKSTART = ROOT / "examples" / "quickstart.yaml"
RAW_BATCH = 32


def quickstart_model() -> Any:
    from rejoinder.api import parse_dialog_model

    return parse_dialog_model(yaml.safe_load(QUICKSTART.read_text()))


def held_out_contexts(model: Any) -> list[list[str]]:
    from rejoinder.datasets.chatterbot import load_corpus
    from rejoinder.text.formats import split_records

    pairs, _ = load_corpus()
    _, held = split_records(pairs, model.spec.data.eval_fraction, salt=f"{model.spec.training.seed}")
    return [list(p.context) for p in held]


def candidate_texts(count: int) -> list[str]:
    from rejoinder.datasets.chatterbot import load_corpus

    _, candidates = load_corpus()
    texts = [c.text for c in candidates]
    return [texts[i % len(texts)] for i in range(count)]


def make_artifacts(work: Path, model: Any) -> tuple[Path, Path]:
    from rejoinder.models.bundle import create_random_bundle
    from rejoinder.modelserver import index as ix

    bundle = create_random_bundle(model.spec, work / "bundle", seed=0, base_dir=QUICKSTART.parent)
    dim = int(json.loads((bundle / "manifest.json").read_text())["embeddingDim"])
    vectors = embedding_like(INDEX_SIZE, dim, seed=0)
    index, params = ix.build(vectors, ix.IndexParams("flat"))
    ids = [f"r{i:06d}" for i in range(INDEX_SIZE)]
    ix.publish(work / "index", index, ids, [f"candidate response {i}" for i in range(INDEX_SIZE)],
               {"params": params.to_json(), "count": INDEX_SIZE, "dim": dim, "indexVersion": "i-bench"})
    return bundle, work / "index"


class Raw:
    """The bundle in this process on sorted batches of the same contexts (encode + search)."""

    def __init__(self, bundle_dir: Path, index_dir: Path, buckets: Optional[tuple[int, ...]], xla: bool):
        from rejoinder.modelserver.index import LoadedIndex
        from rejoinder.modelserver.loading import load_model_bundle
        from rejoinder.models.shapes import batch_sizes_up_to as batch_shapes

        self.bundle = load_model_bundle(bundle_dir, "float32", xla, batch_shapes(RAW_BATCH), buckets)
        self.index = LoadedIndex.load(index_dir)
        self.bundle.warmup()

    def contexts_per_s(self, contexts: list[list[str]], seconds: float) -> float:
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            # encode_contexts sorts by length and runs chunks of 32 at their buckets
            vectors = self.bundle.encode_contexts(contexts)
            for i in range(0, len(contexts), RAW_BATCH):
                self.index.search(vectors[i : i + RAW_BATCH], 20)
            done += len(contexts)
        return done / (time.perf_counter() - start)


def serve_config(name: str, serve_args: tuple[str, ...], buckets: Optional[tuple[int, ...]], bundle: Path,
                 index: Path, contexts: list[list[str]], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    rung = Rung(name, 0, True, "none", 32, 5.0, serve_args)
    raw = Raw(bundle, index, buckets, xla=True)
    server = Server(bundle, index, rung, work / f"serve-{name.replace(' ', '-')}.log")
    levels: dict[int, dict[str, Any]] = {}
    try:
        server.wait_serving()
        warm = {"seconds": server.metric("rejoinder_warmup_seconds"), "shapes": server.metric("rejoinder_compiled_shapes")}
        tokens = 'rejoinder_batch_tokens_total{batcher="retrieve",kind="%s"}'
        for c in CONCURRENCY:
            before = raw.contexts_per_s(contexts, args.raw_seconds)
            rows0, _ = server.batches()
            padded0, real0 = server.metric(tokens % "padded"), server.metric(tokens % "real")
            level = measure(f"127.0.0.1:{server.port}", c, args.duration, contexts)
            rows1, _ = server.batches()
            padded1, real1 = server.metric(tokens % "padded"), server.metric(tokens % "real")
            after = raw.contexts_per_s(contexts, args.raw_seconds)
            rows = max(1.0, rows1 - rows0)
            level.update(raw=(before + after) / 2, padded_len=(padded1 - padded0) / rows, real_len=(real1 - real0) / rows)
            levels[c] = level
    finally:
        server.stop()
    row = {"name": name, "serve_args": list(serve_args), "warmup": warm, "levels": levels}
    print(json.dumps({"config": name, "warmup": warm, **{f"c{c}": round(levels[c]["rps"], 1) for c in levels}}), flush=True)
    return row


def index_build(bundle_dir: Path, buckets: Optional[tuple[int, ...]], texts: list[str], work: Path, name: str) -> dict[str, Any]:
    from rejoinder.modelserver import index as ix
    from rejoinder.modelserver.build_index import build_and_publish
    from rejoinder.modelserver.loading import load_model_bundle

    bundle = load_model_bundle(bundle_dir, sequence_buckets=buckets)  # TensorFlow, as build-index loaded it before the fast path
    ids = [f"c{i:06d}" for i in range(len(texts))]
    manifest = build_and_publish(bundle, ids, texts, ix.IndexParams("flat"), work / f"index-{name}", recall_sample=1000)
    out = {"name": name, **{k: manifest[k] for k in ("encodeSeconds", "buildSeconds", "totalSeconds", "recallAt20", "count")}}
    print(json.dumps(out), flush=True)
    return out


def main(argv: list[str], write_docs: bool = False) -> int:
    parser = argparse.ArgumentParser(prog="bench_serving.py --chat-length")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per concurrency level")
    parser.add_argument("--raw-seconds", type=float, default=2.0)
    parser.add_argument("--max-batch-tokens", type=int, default=512)
    parser.add_argument("--index-candidates", type=int, default=100_000, help="0 skips the index build")
    parser.add_argument("--json", type=Path, help="also write all numbers here")
    parser.add_argument("--from-json", type=Path, help="only render the table of an earlier --json run")
    args = parser.parse_args(argv)
    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        results = run(args)
    text = markdown(results)
    print(text)
    if write_docs:
        replace_section(DOCS, HEADING, text)
        print(f"updated {DOCS}")
    return 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    model = quickstart_model()
    full = model.spec.model.bert.max_seq_length
    contexts = held_out_contexts(model)
    bert = model.spec.model.bert
    results: dict[str, Any] = {"contexts": len(contexts), "max_seq_length": full, "duration": args.duration,
                               "layers": bert.layers, "hidden": bert.hidden,
                               "serving": [], "index": []}

    def save() -> None:
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("creating the quickstart bundle and the 100k index ...", flush=True)
        bundle, index = make_artifacts(work, model)
        configs = [
            (f"fixed ({full})", ("--sequence-buckets", str(full)), (full,)),
            ("buckets", (), None),
            (f"buckets + budget {args.max_batch_tokens}", ("--max-batch-tokens", str(args.max_batch_tokens)), None),
        ]
        for name, serve_args, buckets in configs:
            results["serving"].append(serve_config(name, serve_args, buckets, bundle, index, contexts, args, work))
            save()
        if args.index_candidates:
            texts = candidate_texts(args.index_candidates)
            for name, buckets in ((f"fixed ({full})", (full,)), ("buckets", None)):
                results["index"].append(index_build(bundle, buckets, texts, work, name.split()[0]))
                save()
    results["load"] = os.getloadavg()[0]
    save()
    return results


def markdown(results: dict[str, Any]) -> str:
    import tensorflow as tf

    serving = results["serving"]
    for row in serving:  # JSON object keys are strings
        row["levels"] = {int(c): v for c, v in row["levels"].items()}
    lines = [
        f"`python bench/bench_serving.py --chat-length` — `Retrieve` through a real `rejoinder serve` on "
        f"{results['contexts']} held-out chatterbot contexts (the quickstart's eval split), FAISS flat search over "
        f"{INDEX_SIZE:,} candidates, top 20, {results['duration']:.0f} s per level, clients in another process on "
        f"the same {os.cpu_count()} cores ({platform.machine()}, TensorFlow {tf.__version__}, CPU, XLA on, float32, "
        f"max batch 32, 5 ms). Model: the quickstart's BERT ({results.get('layers', '?')} layers, hidden "
        f"{results.get('hidden', '?')}, maxSeqLength {results['max_seq_length']}), random-initialised. The server "
        "searches with its default FAISS threads (one fewer than its CPUs, docs/serving.md \"Threads\"). *raw* = the "
        "same bundle and buckets in the benchmark's "
        "process on sorted batches of 32 of the same contexts (encode + search on all cores, no gRPC), measured just "
        "before and "
        "just after each level; *vs raw* = RPS / that. *padded len* and *real len* = padded and real tokens per "
        "row, from the server's `rejoinder_batch_tokens_total`. *× fixed* = RPS / the fixed-length server's at "
        "the same concurrency. Warm-up: shapes compiled and seconds, from the server's metrics."
        + (f" The machine is shared: load average {results['load']:.1f} at the end of the run." if "load" in results else ""),
        "",
        "| config | warm-up | c | RPS | × fixed | vs raw | raw ctx/s | padded len | real len | p50 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    fixed = serving[0]
    for row in serving:
        for c in CONCURRENCY:
            lv = row["levels"][c]
            first = c == CONCURRENCY[0]
            warm = f"{row['warmup']['shapes']:.0f} shapes, {row['warmup']['seconds']:.1f} s" if first else ""
            lines.append(
                f"| {row['name'] if first else ''} | {warm} | {c} | {lv['rps']:.1f} | "
                f"{lv['rps'] / fixed['levels'][c]['rps']:.2f}× | {lv['rps'] / lv['raw']:.2f} | {lv['raw']:.0f} | "
                f"{lv['padded_len']:.1f} | {lv['real_len']:.1f} | {lv['p50_ms']:.1f} | {lv['p99_ms']:.1f} | "
                f"{sum(lv['errors'].values())} |"
            )
    lines += ["", *serving_goals(serving)]
    if results.get("index"):
        lines += ["", index_table(results["index"])]
    return "\n".join(lines) + "\n"


def serving_goals(serving: list[dict[str, Any]]) -> list[str]:
    """The issue's goals against the numbers above: ≥ 2.5× fixed RPS at c=32, ≥ 0.9 of raw."""
    fixed, out = serving[0], []
    for row in serving[1:]:
        lv = row["levels"][32]
        gain, vs_raw = lv["rps"] / fixed["levels"][32]["rps"], lv["rps"] / lv["raw"]
        out.append(
            f"- {row['name']}: at c=32 {gain:.2f}× the fixed-length RPS (goal ≥ 2.5×: "
            f"{'met' if gain >= 2.5 else 'not met'}), {vs_raw:.2f} of raw (goal ≥ 0.9: "
            f"{'met' if vs_raw >= 0.9 else 'not met'}); padded {lv['padded_len']:.1f} tokens per row vs "
            f"{fixed['levels'][32]['padded_len']:.0f} fixed."
        )
    return out


def index_table(index: list[dict[str, Any]]) -> str:
    fixed = index[0]
    lines = [
        f"Index build, same run: `build_and_publish` of {fixed['count']:,} candidates (chatterbot candidate texts "
        "cycled; real response lengths), the bundle loaded as `rejoinder build-index` loads it (no XLA), recall "
        "measured on 1,000 queries.",
        "",
        "| build | encode s | FAISS build s | total s | × fixed | recall@20 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in index:
        lines.append(f"| {row['name']} | {row['encodeSeconds']:.1f} | {row['buildSeconds']:.1f} | "
                     f"{row['totalSeconds']:.1f} | {fixed['totalSeconds'] / row['totalSeconds']:.2f}× | "
                     f"{row['recallAt20']:.4f} |")
    speedup = fixed["totalSeconds"] / index[-1]["totalSeconds"]
    lines += ["", f"- index build {speedup:.2f}× faster with buckets (goal ≥ 3×: {'met' if speedup >= 3 else 'not met'})."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main([a for a in sys.argv[1:] if a != "--write-docs"], write_docs="--write-docs" in sys.argv))
