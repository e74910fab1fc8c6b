"""Section `retrieval` of docs/quality.md: the recipe levers, the quickstart over seeds, and the
seed-shaped row pair QA-LSTM vs BERT.

    levers     one change each against sweep.BASE (bench/quality/sweep.py), one process, on the
               first seed (--lever-seeds for more)
    seeds      examples/quickstart.yaml as `rejoinder up` trains it (horovodrun -np 2, Gloo) for
               every --seeds value; each seed is its own held-out split; the untrained start,
               BM25 and TF-IDF on the same split
    table      QA-LSTM vs the quickstart BERT on the first seed's split: mAP, R@5, parameters,
               Retrieve RPS on this CPU (one context at a time, encoder + exact FAISS search, under
               the benchmark lock), memory (float32 weights + index), training time

Runs are cached in --cache (JSON) by recipe and seed; rerunning rebuilds the tables from it and
trains only what is missing.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import yaml

from . import sweep, time_to_serving
from .recipes import QUICKSTART, ROOT, quickstart_wire, train_recipe, untrained_start, with_overrides
from .timing import bench_lock

log = logging.getLogger(__name__)

HEADING = "## Retrieval (chatterbot)"
DEFAULT_CACHE = ROOT / "bench" / "quality" / "retrieval-results.json"
QUICKSTART_KEY = "quickstart (horovodrun -np 2)"
# Changes to the quickstart itself, trained as `up` trains it (2 ranks, 16 pairs each) on the
# lever seeds and compared with the quickstart seed by seed (the same split: paired).
QUICKSTART_VARIANTS: tuple[sweep.Recipe, ...] = (
    sweep.Recipe("+ training.poolNegatives, pool: training (the ~1,000 training replies)",
                 {"training.poolNegatives": {"pool": "training", "refreshSteps": 16}}),
    sweep.Recipe("+ training.poolNegatives, pool: candidates (all 1,163 candidates)",
                 {"training.poolNegatives": {"pool": "candidates", "refreshSteps": 16}}),
    # Asked because one process with 32 pairs per step gained twice the quickstart's R@5 on seed 42
    # (the lever table); refuted (VARIANT_NOTE).
    sweep.Recipe("batchSizePerGpu 32, 32 steps (the same pairs, 32 in-batch negatives)",
                 {"training.batchSizePerGpu": 32, "training.steps": 32, "training.warmupSteps": 3,
                  "training.checkpointInterval": 16}),
    sweep.Recipe("batchSizePerGpu 32, 64 steps (twice the pairs)",
                 {"training.batchSizePerGpu": 32}),
    # The loss levers (training.contrastiveLoss), and separate towers, which gained R@5 in
    # the one-process lever table.
    sweep.Recipe("temperature 0.1 (scale 10 instead of 20)", {"training.contrastiveLoss": {"temperature": 0.1}}),
    sweep.Recipe("temperature 0.02 (scale 50)", {"training.contrastiveLoss": {"temperature": 0.02}}),
    sweep.Recipe("one direction (context → reply only)", {"training.contrastiveLoss": {"symmetric": False}}),
    sweep.Recipe("separate towers (model.bert.sharedEncoder false)", {"model.bert.sharedEncoder": False}),
)
QA_LSTM = {
    "model.architecture": "qa-lstm",
    "model.qaLstm": {"embeddingDim": 300, "hiddenUnits": 256},
    "model.init": None,
    "tokenizer": {"kind": "bpe", "vocabSize": 8000},
    "training.learningRate": 1e-3,
    "training.steps": 300,
    "training.batchSizePerGpu": 64,
    "training.warmupSteps": 30,
    "training.scaleLearningRate": False,
}
# Levers that act on the starting model itself, scored untrained (seconds each).
START_LEVERS: tuple[sweep.Recipe, ...] = (
    sweep.Recipe("6 layers, mean pooling (MiniLM as trained)", {"model.bert.layers": 6}),
    sweep.Recipe("3 layers, mean pooling (quickstart before)", {"model.bert.layers": 3}),
    sweep.Recipe("6 layers, [CLS] pooling", {"model.bert.layers": 6, "model.bert.pooling": "cls"}),
    sweep.Recipe("6 layers, 1 context turn", {"model.bert.layers": 6, "data.maxContextTurns": 1}),
    sweep.Recipe("6 layers, 4 context turns", {"model.bert.layers": 6, "data.maxContextTurns": 4}),
    sweep.Recipe("6 layers, maxSeqLength 32", {"model.bert.layers": 6, "model.bert.maxSeqLength": 32}),
)
# What the variant table found (issue 13, measured 2026-12-02); update with the table.
VARIANT_NOTE = (
    "A bank of replies as extra negatives (1,000+ per context instead of the batch's 16) made the "
    "model worse than its untrained start on seed 42, whether the bank held only the training replies "
    "or every candidate, so one seed was enough to drop it from the quickstart. The likely reason is "
    "false negatives: the corpus answers many contexts with interchangeable replies (\"I'm also good.\" and "
    "\"I am also good.\", \"I'm a computer. I can't.\" and \"I'm a computer, I can't eat or drink.\" are all "
    "candidates), and a full-pool softmax pushes each context away from all of "
    "them except its own, which teaches surface forms instead of meaning. In-batch softmax over 16 "
    "seldom holds such a pair. Nor did 32 pairs per rank instead of 16 help, with the same pairs seen "
    "(32 steps) or twice as many (64 steps): both scored below the quickstart on seed 42, so the one-process "
    "lever row's +0.044 (lr 1e-4, 64 × 32) is within one seed's noise, not an effect of batch size. "
    "The loss levers (training.contrastiveLoss) do not beat scale 20 with both directions on seed 42: "
    "temperature 0.1 trades R@1 (−0.036) for R@5 (+0.012), temperature 0.02 loses R@5 (−0.024), and "
    "context → reply only is the same within noise (+0.004 R@1, +0.008 R@5). Separate towers, the one "
    "change that gained R@5 on seed 42 (+0.036), were run on all five seeds: they gain +0.037 R@5 "
    "(s.e. 0.009) and +0.020 R@1 over the start on every seed, against the quickstart's +0.024, but "
    "paired with the quickstart seed by seed the difference is +0.013 R@5 (s.e. 0.011) and +0.005 R@1 "
    "(s.e. 0.006): not a real effect on 247 held-out pairs, for twice the weights, so the quickstart "
    "keeps one shared encoder. "
    "Seed 42's quickstart training time (496 s) was measured while the QA-LSTM "
    "baseline trained beside it; the other seeds ran alone.")
# Why these numbers are lower than earlier versions of this page (not comparable with them).
DATA_NOTE = (
    "The held-out data changed in issue 13c. The corpus repeats some exchanges verbatim (one reply "
    "121 times); repeats are now kept once (1,249 distinct pairs instead of 2,377), so a seed no "
    "longer holds out a whole block of copies that weighed up to 29 R@1 points. Pairs are split by "
    "their context, so no held-out context is one training taught another reply for. Both made the "
    "old held-out sets easier and odder: the untrained MiniLM-L6 scored R@5 0.753 on seed 42's old "
    "split and scores 0.448 on its new one.")
R5_STANDARD_ERROR = 0.03  # sqrt(0.75 · 0.25 / 247): one split's R@5 is this uncertain


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("retrieval")
    group.add_argument("--seeds", default="42,43,44,45,46", help="training.seed values (each its own split)")
    group.add_argument("--lever-seeds", default="", help="seeds the levers run on (default: the first of --seeds)")
    group.add_argument("--levers", default="all", help="lever indices of bench/quality/sweep.py LEVERS, or all/none")
    group.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    group.add_argument("--rps-queries", type=int, default=200)
    group.add_argument("--cached-only", action="store_true",
                       help="train and measure nothing: tables from --cache, missing runs shown as not measured")


# --- runs ------------------------------------------------------------------------------------


def quickstart_as_up_trains_it(seed: int, root: Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`rejoinder train` of examples/quickstart.yaml (with `overrides`) under the same command
    line `rejoinder up` uses (horovodrun -np 2 --gloo when Horovod is installed), with
    training.seed `seed`."""
    from rejoinder.api import DialogModel
    from rejoinder.local.commands import Endpoint, horovodrun_path, stage_argv
    from rejoinder.pipeline.stages import Stage
    from rejoinder.training.pipeline import TrainOptions, version_layout

    wire = with_overrides(quickstart_wire(), {**(overrides or {}), "training.seed": seed, "storage.path": str(root)})
    model = DialogModel.model_validate(wire)
    spec_file = root / "dialogmodel.yaml"
    spec_file.write_text(yaml.safe_dump(wire, sort_keys=False), encoding="utf-8")
    horovodrun = horovodrun_path()
    argv = stage_argv(Stage.train, spec_file, version="-", endpoint=Endpoint("127.0.0.1", 0, 0), horovodrun=horovodrun)
    started = time.perf_counter()
    with open(root / "train.log", "w", encoding="utf-8") as out:
        code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {code}; see {root / 'train.log'}")
    layout = version_layout(model, TrainOptions(artifacts=root, namespace="default"))
    import json

    report = json.loads(layout.metrics_file.read_text(encoding="utf-8"))
    report["wallSeconds"] = round(time.perf_counter() - started, 1)
    result = sweep.summary(report)
    result["horovod"] = horovodrun is not None
    result["export"] = str(layout.export_dir)
    return result


def start_runs(seed: int, cache: Path) -> dict[str, dict[str, Any]]:
    results = sweep.load(cache)
    out = {}
    for recipe in START_LEVERS:
        def make(recipe: sweep.Recipe = recipe) -> dict[str, Any]:
            root = Path(tempfile.mkdtemp(prefix="rejoinder-quality-"))
            try:
                report = untrained_start(recipe.overrides, seed, root)
            finally:
                shutil.rmtree(root, ignore_errors=True)
            return {"model": {m: report["metrics"][m] for m in sweep.METRICS},
                    "bm25": {m: report["baselines"]["bm25"][m] for m in sweep.METRICS}}
        found = cached(results, cache, f"untrained: {recipe.label} | seed {seed}", make)
        if found is not None:
            out[recipe.label] = found
    return out


CACHED_ONLY = False  # set by --cached-only


def cached(results: dict[str, Any], cache: Path, key: str, make) -> Optional[dict[str, Any]]:
    if key not in results:
        if CACHED_ONLY:
            return None
        log.info("running %s", key)
        results[key] = make()
        # Re-read before writing: another bench process may have cached runs meanwhile.
        sweep.save(cache, {**sweep.load(cache), key: results[key]})
    return results[key]


def seed_runs(seeds: Sequence[int], cache: Path, keep: Path) -> dict[int, dict[str, Any]]:
    """The quickstart for every seed; the first seed's artifacts are kept under `keep` (its
    bundle is measured for the table), the others removed."""
    results = sweep.load(cache)
    out = {}
    for i, seed in enumerate(seeds):
        def make(seed: int = seed, first: bool = i == 0) -> dict[str, Any]:
            root = keep / f"quickstart-{seed}" if first else Path(tempfile.mkdtemp(prefix="rejoinder-quality-"))
            root.mkdir(parents=True, exist_ok=True)
            try:
                return quickstart_as_up_trains_it(seed, root)
            finally:
                if not first:
                    shutil.rmtree(root, ignore_errors=True)
        found = cached(results, cache, f"{QUICKSTART_KEY} | seed {seed}", make)
        if found is not None:
            out[seed] = found
    return out


def qa_lstm_run(seed: int, cache: Path, keep: Path) -> Optional[dict[str, Any]]:
    results = sweep.load(cache)

    def make() -> dict[str, Any]:
        root = keep / f"qa-lstm-{seed}"
        report = train_recipe(QA_LSTM, seed, root, name="qa-lstm")
        result = sweep.summary(report)
        from rejoinder.artifacts import ModelLayout

        result["export"] = str(ModelLayout.for_model(root, "bench", "qa-lstm").root / "versions" / report["version"] / "export")
        return result

    return cached(results, cache, f"QA-LSTM | seed {seed}", make)


# --- serving measurements ---------------------------------------------------------------------


def bundle_costs(export_dir: Path, contexts: Sequence[Sequence[str]], queries: int) -> dict[str, float]:
    """Parameters, float32 weights + index MiB, and Retrieve requests/s one context at a time
    (tokenize, encode, exact FAISS top-20), timed under the benchmark lock."""
    from rejoinder.modelserver import index as faiss_index
    from rejoinder.models.bundle import load_bundle
    from rejoinder.training.data_prep import load_prepared

    bundle = load_bundle(export_dir)
    params = int(sum(np.prod(v.shape) for v in bundle.model.weights))
    data = load_prepared(export_dir.parent / "data")
    assert data is not None
    texts = [c.text for c in data.candidates()]
    vectors = bundle.encode_responses(texts)
    index, _ = faiss_index.build(vectors, faiss_index.IndexParams(kind="flat"))
    bundle.warmup()
    asked = [contexts[i % len(contexts)] for i in range(queries)]
    for context in asked[:10]:  # compile and warm caches outside the timing
        index.search(faiss_index.normalize(bundle.encode_contexts([context])), 20)
    with bench_lock():
        started = time.perf_counter()
        for context in asked:
            index.search(faiss_index.normalize(bundle.encode_contexts([context])), 20)
        elapsed = time.perf_counter() - started
    return {"parameters": params, "weightsMiB": params * 4 / 2**20,
            "indexMiB": vectors.shape[0] * vectors.shape[1] * 4 / 2**20, "rps": queries / elapsed}


def costs(result: Optional[dict[str, Any]], cache: Path, key: str, queries: int) -> Optional[dict[str, float]]:
    from rejoinder.training.data_prep import load_prepared

    results = sweep.load(cache)
    if key + " | costs" not in results:
        if CACHED_ONLY or result is None or not Path(result["export"]).is_dir():
            return None
        export = Path(result["export"])
        held = load_prepared(export.parent / "data")
        assert held is not None
        contexts = [list(p.context) for p in held.eval()]
        results[key + " | costs"] = bundle_costs(export, contexts, queries)
        sweep.save(cache, results)
    return results[key + " | costs"]


# --- tables -----------------------------------------------------------------------------------


def _f0(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.0f}"


def _f(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.3f}"


def lever_table(results: Mapping[str, Any], seeds: Sequence[int]) -> str:
    """Each lever's mean over the seeds it was run on (each its own split); gains are paired
    (model minus its untrained start on the same split)."""
    lines = ["| recipe (one process; one change against the first row) | seeds | R@1 | R@5 | R@20 | mAP | "
             "gain R@1 | gain R@5 | worst gain R@5 | train s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for recipe in sweep.LEVERS:
        runs = [r for r in (results.get(sweep.key(recipe, seed)) for seed in seeds) if r is not None]
        ran = [seed for seed in seeds if sweep.key(recipe, seed) in results]
        if not runs:
            lines.append(f"| {recipe.label} | not run | | | | | | | | |")
            continue

        def mean(f) -> float:
            return sweep.mean_spread([f(r) for r in runs])[0]

        gains5 = [r["model"]["recall@5"] - r["init"]["recall@5"] for r in runs]
        lines.append(
            f"| {recipe.label} | {','.join(map(str, ran))} | "
            + " | ".join(_f(mean(lambda r, m=m: r["model"][m])) for m in sweep.METRICS)
            + f" | {mean(lambda r: r['model']['recall@1'] - r['init']['recall@1']):+.3f}"
            + f" | {mean(lambda r: r['model']['recall@5'] - r['init']['recall@5']):+.3f} | {min(gains5):+.3f}"
            + f" | {mean(lambda r: r['trainSeconds']):.0f} |")
    return "\n".join(lines)


def start_table(starts: Mapping[str, Mapping[str, Any]]) -> str:
    if not starts:
        return "Not measured in this run."
    lines = ["| untrained start | R@1 | R@5 | R@20 | mAP |", "|---|---:|---:|---:|---:|"]
    for label, r in starts.items():
        m = r["model"]
        lines.append(f"| {label} | {_f(m['recall@1'])} | {_f(m['recall@5'])} | {_f(m['recall@20'])} | {_f(m['map'])} |")
    return "\n".join(lines)


def seed_table(runs: Mapping[int, Mapping[str, Any]]) -> str:
    lines = ["| seed | R@1 | R@5 | mAP | start R@1 | start R@5 | start mAP | gain R@1 | gain R@5 | BM25 R@5 | TF-IDF R@5 | train s | wall s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for seed, r in runs.items():
        m, s = r["model"], r["init"]
        lines.append(f"| {seed} | {_f(m['recall@1'])} | {_f(m['recall@5'])} | {_f(m['map'])} | {_f(s['recall@1'])} | "
                     f"{_f(s['recall@5'])} | {_f(s['map'])} | {m['recall@1'] - s['recall@1']:+.3f} | "
                     f"{m['recall@5'] - s['recall@5']:+.3f} | {_f(r['bm25']['recall@5'])} | {_f(r['tfidf']['recall@5'])} | "
                     f"{r['trainSeconds']:.0f} | {_f0(r.get('wallSeconds'))} |")
    if len(runs) > 1:
        def col(f) -> str:
            mean, sd = sweep.mean_spread([f(r) for r in runs.values()])
            return f"{mean:.3f} ± {sd:.3f}"
        lines.append("| **mean ± sd** | " + " | ".join([
            col(lambda r: r["model"]["recall@1"]), col(lambda r: r["model"]["recall@5"]), col(lambda r: r["model"]["map"]),
            col(lambda r: r["init"]["recall@1"]), col(lambda r: r["init"]["recall@5"]), col(lambda r: r["init"]["map"]),
            col(lambda r: r["model"]["recall@1"] - r["init"]["recall@1"]),
            col(lambda r: r["model"]["recall@5"] - r["init"]["recall@5"]),
            col(lambda r: r["bm25"]["recall@5"]), col(lambda r: r["tfidf"]["recall@5"]), "", ""]) + " |")
    return "\n".join(lines)


def seed_verdict(runs: Mapping[int, Mapping[str, Any]]) -> str:
    gains5 = [r["model"]["recall@5"] - r["init"]["recall@5"] for r in runs.values()]
    gains1 = [r["model"]["recall@1"] - r["init"]["recall@1"] for r in runs.values()]
    n = len(gains5)
    m5, sd5 = sweep.mean_spread(gains5)
    m1, sd1 = sweep.mean_spread(gains1)
    se5 = sd5 / np.sqrt(n) if n > 1 else float("nan")
    se1 = sd1 / np.sqrt(n) if n > 1 else float("nan")
    worst = min(runs, key=lambda s: runs[s]["model"]["recall@5"] - runs[s]["init"]["recall@5"])
    return (f"Over {n} seed{'s' if n != 1 else ''} the quickstart gains {m5:+.3f} R@5 (standard error of the mean gain {se5:.3f}) and "
            f"{m1:+.3f} R@1 (s.e. {se1:.3f}) over the untrained 6-layer MiniLM on the same splits; the gain is "
            f"paired (same split, same candidates), so its spread is smaller than the ±{R5_STANDARD_ERROR} of one "
            f"split's R@5. Worst seed ({worst}): R@5 gain {min(gains5):+.3f}, R@1 gain "
            f"{runs[worst]['model']['recall@1'] - runs[worst]['init']['recall@1']:+.3f}.")


def variant_runs(seeds: Sequence[int], cache: Path) -> dict[str, dict[int, dict[str, Any]]]:
    results = sweep.load(cache)
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for recipe in QUICKSTART_VARIANTS:
        for seed in seeds:
            def make(recipe: sweep.Recipe = recipe, seed: int = seed) -> dict[str, Any]:
                root = Path(tempfile.mkdtemp(prefix="rejoinder-quality-"))
                try:
                    return quickstart_as_up_trains_it(seed, root, recipe.overrides)
                finally:
                    shutil.rmtree(root, ignore_errors=True)
            found = cached(results, cache, f"quickstart {recipe.label} | seed {seed}", make)
            if found is not None:
                out.setdefault(recipe.label, {})[seed] = found
    return out


def variant_table(variants: Mapping[str, Mapping[int, Mapping[str, Any]]], runs: Mapping[int, Mapping[str, Any]]) -> str:
    """Each quickstart variant against the quickstart on the seeds both ran: the same split and
    candidates per seed, so the differences are paired."""
    lines = ["| change to the quickstart (horovodrun -np 2) | seeds | R@1 | R@5 | Δ R@1 vs quickstart | Δ R@5 vs quickstart | "
             "gain R@5 over start | train s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for recipe in QUICKSTART_VARIANTS:
        got = {s: r for s, r in variants.get(recipe.label, {}).items() if s in runs}
        if not got:
            lines.append(f"| {recipe.label} | not run | | | | | | |")
            continue

        def mean(f) -> float:
            return sweep.mean_spread([f(s, r) for s, r in got.items()])[0]

        lines.append(
            f"| {recipe.label} | {','.join(map(str, got))} | {_f(mean(lambda s, r: r['model']['recall@1']))} | "
            f"{_f(mean(lambda s, r: r['model']['recall@5']))} | "
            f"{mean(lambda s, r: r['model']['recall@1'] - runs[s]['model']['recall@1']):+.3f} | "
            f"{mean(lambda s, r: r['model']['recall@5'] - runs[s]['model']['recall@5']):+.3f} | "
            f"{mean(lambda s, r: r['model']['recall@5'] - r['init']['recall@5']):+.3f} | "
            f"{mean(lambda s, r: r['trainSeconds']):.0f} |")
    return "\n".join(lines)


def seed_shaped_table(qa: Optional[Mapping[str, Any]], qa_costs: Optional[Mapping[str, float]],
                      bert: Mapping[str, Any], bert_costs: Optional[Mapping[str, float]]) -> str:
    lines = ["| model | mAP | R@5 | parameters | Retrieve RPS (this CPU, 1 context/request) | memory (weights + index) | train time |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for label, r, c in (("baseline: QA-LSTM (BiLSTM 256, BPE 8k, 300 steps × 64, 1 process)", qa, qa_costs),
                        ("BERT-based: quickstart (MiniLM-L6 dual encoder, horovodrun -np 2)", bert, bert_costs)):
        quality = f"{_f(r['model']['map'])} | {_f(r['model']['recall@5'])}" if r else "not measured | not measured"
        cost = (f"{c['parameters'] / 1e6:.1f} M | {c['rps']:.0f} | {c['weightsMiB'] + c['indexMiB']:.0f} MiB"
                if c else "not measured | not measured | not measured")
        train = f"{r['trainSeconds']:.0f} s" if r else "not measured"
        lines.append(f"| {label} | {quality} | {cost} | {train} |")
    lines.append(f"| lexical: BM25 (same split) | {_f(bert['bm25']['map'])} | {_f(bert['bm25']['recall@5'])} | - | - | - | - |")
    lines.append(f"| untrained start: MiniLM-L6 as is | {_f(bert['init']['map'])} | {_f(bert['init']['recall@5'])} | - | - | - | - |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> str:
    seeds = [int(s) for s in args.seeds.split(",")]
    lever_seeds = [int(s) for s in args.lever_seeds.split(",")] if args.lever_seeds else seeds[:1]
    picks = (range(len(sweep.LEVERS)) if args.levers == "all" else
             [] if args.levers == "none" else [int(i) for i in args.levers.split(",")])
    cache: Path = args.cache
    global CACHED_ONLY
    CACHED_ONLY = args.cached_only
    keep = Path(tempfile.mkdtemp(prefix="rejoinder-quality-keep-"))
    try:
        starts = start_runs(seeds[0], cache)
        if not CACHED_ONLY:
            sweep.run([sweep.LEVERS[i] for i in picks], lever_seeds, cache)
        runs = seed_runs(seeds, cache, keep)
        variants = variant_runs(lever_seeds, cache)
        qa = qa_lstm_run(seeds[0], cache, keep)
        if not runs:
            raise SystemExit(f"no quickstart run in {cache} for seeds {seeds}")
        table_seed = seeds[0] if seeds[0] in runs else next(iter(runs))
        first = runs[table_seed]
        qa_costs = costs(qa, cache, f"QA-LSTM | seed {seeds[0]}", args.rps_queries)
        bert_costs = costs(first, cache, f"{QUICKSTART_KEY} | seed {table_seed}", args.rps_queries)
        results = sweep.load(cache)
    finally:
        shutil.rmtree(keep, ignore_errors=True)
    serving = results.get(time_to_serving.cache_key(QUICKSTART))
    # Recorded when the quickstart trained on chatterbot; today's (Chit-Chat) is in chitchat_retrieval.py's table.
    serving_line = ("Time from `rejoinder up -f examples/quickstart.yaml`, when it trained on chatterbot (fresh storage), to phase Serving: "
                    + (f"**{serving['seconds']:.0f} s** ({serving['phase']}), measured by `cd bench && python -m quality.time_to_serving "
                       f"../examples/quickstart.yaml` holding the benchmark lock; load average before/after "
                       f"{serving['loadavgBefore'][0]:.1f} / {serving['loadavgAfter'][0]:.1f} on 2 cores."
                       if serving else "not measured."))
    return "\n\n".join([
        f"Data: chatterbot-corpus English, {first['eval']['queries']} held-out contexts ranked against "
        f"{first['eval']['candidates']} candidate responses; one split per `training.seed`. R@5 of one split has a "
        f"standard error near {R5_STANDARD_ERROR}.",
        DATA_NOTE,
        f"### The seed's table (split of seed {table_seed})",
        seed_shaped_table(qa, qa_costs, first, bert_costs),
        "### The quickstart over seeds (examples/quickstart.yaml as `rejoinder up` trains it)",
        seed_table(runs),
        seed_verdict(runs) + ("" if len(runs) == len(seeds) else
                              f" Only {len(runs)} of the {len(seeds)} requested seeds ({args.seeds}) were measured."),
        "### Changes to the quickstart (as `up` trains it, paired with it seed by seed)",
        variant_table(variants, runs),
        VARIANT_NOTE,
        serving_line,
        f"### Levers on the start (untrained, seed {seeds[0]}'s split)",
        start_table(starts),
        "### Recipe levers (one change each, one process)",
        lever_table(results, sorted({*lever_seeds, *seeds})),
    ])
