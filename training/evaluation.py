"""Held-out evaluation of a trained task model (rank 0), with the baselines beside it.

    retrieval        mAP, recall@1/5/20 and MRR@20 of each held-out context against the whole
                     candidate pool, the no-parroting rule applied, with bootstrap intervals;
                     the same for the untrained start (init_*: the initial checkpoint with the
                     same tokenizer and pooling), BM25, TF-IDF and the expected value of a
                     random ranker; `gainOverStart` = model − start (with its paired interval);
                     eval (dev) under `metrics`, a fixed test split under `test`
    reranking        accuracy and ROC-AUC of P(upvote)
    session-scoring  accuracy and ROC-AUC of P(good session)
    pretraining      masked-LM accuracy on the eval texts, masked with a fixed seed

Returns {"metrics": {...}, "baselines": {...}, "eval": {sizes}} (+ "gainOverStart", "test");
`flat_metrics` turns that into the one-line numbers of REJOINDER_METRICS (test ones prefixed
`test_`). Gates and every choice read `metrics` (dev); test is reported, never chosen on.
"""

from __future__ import annotations

import logging
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

import numpy as np
from tqdm import tqdm

from rejoinder.text import echo

from rejoinder.models.shapes import SequenceBuckets, plan_chunks, row_lengths, trim
from rejoinder.progress_lines import CI_HIGH, CI_LOW, GAIN_PREFIX, TEST_PREFIX

from .bm25_baseline import Bm25Ranker
from .metrics import (binary_metrics, bootstrap_intervals, masked_lm_accuracy, mean_metrics, per_query_metrics,
                      random_retrieval_metrics, rank_of_relevant, roc_auc)
from .tfidf_baseline import TfidfRanker

from .embedding_cache import texts_fingerprint

if TYPE_CHECKING:
    from .embedding_cache import EmbeddingCache

log = logging.getLogger(__name__)

EVAL_BATCH = 64  # rows per call; padded to this, so inference compiles once per sequence bucket


def predict(fn: Callable, features: Mapping[str, np.ndarray], batch: int = EVAL_BATCH, *, pad_id: int,
            desc: str = "") -> np.ndarray:
    """Run `fn(batch_dict)` over all rows in padded batches of `batch` rows; float32 numpy out, in
    the input order. Rows are sorted by length and each batch is cut to its longest row's
    sequence bucket (the serving buckets' default; masks make the cut padding invisible)."""
    import tensorflow as tf

    compiled = tf.function(fn, reduce_retracing=True)
    lengths = row_lengths(features, pad_id)
    buckets = SequenceBuckets.for_length(max(v.shape[1] for k, v in features.items() if k.endswith("_ids")))
    out: np.ndarray | None = None
    chunks = list(plan_chunks(lengths, buckets, batch))
    # a progress bar where the work is long (the pool of a real corpus is 100k+ rows)
    for chunk in tqdm(chunks, desc=desc or "encode", unit="batch", leave=False, disable=len(chunks) < 50):
        part = trim({k: v[chunk.rows] for k, v in features.items()}, chunk.length)
        rows = len(chunk.rows)
        if rows < batch:  # pad with copies of the first row; the extra outputs are dropped
            part = {k: np.concatenate([v, np.repeat(v[:1], batch - rows, axis=0)]) for k, v in part.items()}
        result = np.asarray(compiled({k: tf.convert_to_tensor(v) for k, v in part.items()}), dtype=np.float32)[:rows]
        if out is None:
            out = np.zeros((lengths.shape[0], *result.shape[1:]), np.float32)
        out[chunk.rows] = result
    return out if out is not None else np.zeros((0,), np.float32)


def _pad_id(model: Any) -> int:
    return int(model.model_config.special.pad)


TFIDF_MAX_POOL = 20_000  # candidates up to which the TF-IDF baseline is scored beside BM25
QUERY_CHUNK_CELLS = 32_000_000  # query rows × candidates held at once (a 256 × 122k float64 block is 250 MB)


@dataclass
class RankedSplit:
    """One ranker's per-query values on one split, and how often its unfiltered top-1 was an echo."""

    values: dict[str, np.ndarray]
    echo_top1: float

    @property
    def means(self) -> dict[str, float]:
        return mean_metrics(self.values)


def rank_queries(score_rows: Callable[[int, int], np.ndarray], n: int, relevant: Sequence[Sequence[int]],
                 excluded: Sequence[Sequence[int]], pool_size: int) -> RankedSplit:
    """Per-query retrieval values with the no-parroting rule applied (`excluded`: each query's
    echo candidates), computed over query chunks (the full score matrix may not fit in memory);
    `score_rows(start, stop)` gives the score rows of those queries."""
    chunk = max(1, QUERY_CHUNK_CELLS // max(pool_size, 1))
    parts: list[dict[str, np.ndarray]] = []
    echo_hits = 0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        scores = score_rows(start, stop)
        top1 = np.argmax(scores, axis=1)
        echo_hits += sum(1 for row, j in enumerate(top1) if j in set(excluded[start + row]))
        parts.append(per_query_metrics(rank_of_relevant(scores, relevant[start:stop], excluded[start:stop])))
    values = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
    return RankedSplit(values, echo_hits / max(n, 1))


def encode_pool_and_contexts(encoder: Any, contexts: Sequence[Sequence[str]], texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(context embeddings, pool embeddings) through a retrieval encoder (a ModelBundle:
    encode_contexts / encode_responses, which sort by length and pad each call to its bucket)."""
    import time

    started = time.perf_counter()
    ctx = encoder.encode_contexts([list(c) for c in contexts])
    pool = encoder.encode_responses(list(texts))
    log.info("encoded %d contexts and %d candidates in %.0f s", len(contexts), len(texts), time.perf_counter() - started)
    return ctx, pool


@dataclass
class StartModel:
    """The untrained start: its Keras model (what the embedding cache is keyed by) and how to get
    an encoder for it when the cache has nothing (a context manager: the export is temporary)."""

    model: Any
    encoder: Callable[[], Any]


def start_embeddings(start: StartModel, featurizer: Any, contexts: Sequence[Sequence[str]], texts: Sequence[str],
                     cache: Optional["EmbeddingCache"]) -> tuple[np.ndarray, np.ndarray]:
    """The start's embeddings, looked up (and stored) by its weights and the texts: an unchanged
    start is encoded once per machine rather than once per version."""
    def compute() -> tuple[np.ndarray, np.ndarray]:
        with start.encoder() as encoder:
            return encode_pool_and_contexts(encoder, contexts, texts)

    return compute() if cache is None else cache.get_or_compute(start.model, featurizer, contexts, texts, compute)


def _split_report(rankers: dict[str, RankedSplit], random: dict[str, float], queries: int, candidates: int,
                  unreachable: int, seed: int) -> dict[str, Any]:
    model = rankers["model"]
    report: dict[str, Any] = {
        "metrics": model.means,
        "intervals": bootstrap_intervals(model.values, seed=seed),
        "baselines": {**{name: r.means for name, r in rankers.items() if name != "model"}, "random": random},
        "baselineIntervals": {name: bootstrap_intervals(r.values, seed=seed) for name, r in rankers.items() if name != "model"},
        "echoTop1": {name: r.echo_top1 for name, r in rankers.items()},
        "eval": {"queries": queries, "candidates": candidates, "unreachable": unreachable},
    }
    if "init" in rankers:
        start = rankers["init"]
        report["gainOverStart"] = gain_over(model.means, start.means)
        # paired: the same queries' differences, resampled together
        report["gainIntervals"] = bootstrap_intervals({k: model.values[k] - start.values[k] for k in model.values}, seed=seed)
    return report


def evaluate_retrieval(encoder: Any, featurizer: Any, train: Sequence[Any], held: Sequence[Any], candidates: Sequence[Any],
                       start: Optional[StartModel] = None, test: Optional[Sequence[Any]] = None,
                       cache: Optional["EmbeddingCache"] = None, seed: int = 0,
                       keep: Optional[Callable[[np.ndarray, np.ndarray], None]] = None) -> dict[str, Any]:
    """Every held-out context (eval, i.e. dev; and test when the data has one) ranks the whole
    candidate pool, with the no-parroting rule (rejoinder.text.echo) applied to every row, for the
    model (`encoder`: the version as served, training/served_encoders.py), the untrained `start`
    (baseline `init`: the initial checkpoint with the same tokenizer and pooling, when the model
    was initialised from one), BM25, TF-IDF (small pools) and a random ranker.
    Each metric comes with a 95 % bootstrap interval over queries; the gain over the start with
    the paired interval. `metrics` is the eval (dev) split's: what gates and choices read; the
    test split is reported under `test` only. `keep(context_vectors, pool_vectors)` receives the
    model's encodings (contexts: eval rows, then test rows), e.g. to store them for the index."""
    texts = [c.text for c in candidates]
    where = {t: i for i, t in enumerate(texts)}
    splits = {"eval": list(held), **({"test": list(test)} if test else {})}
    for name, rows in splits.items():
        missing = [p.response for p in rows if p.response not in where]
        if missing:
            raise ValueError(f"{len(missing)} {name} responses are not in the candidate pool (e.g. {missing[0]!r})")
    pool_keys = echo.keys_of(texts)
    all_rows = [p for rows in splits.values() for p in rows]
    contexts = [p.context for p in all_rows]
    log.info("ranking %d contexts (%s) against %d candidates", len(all_rows),
             ", ".join(f"{len(v)} {k}" for k, v in splits.items()), len(texts))
    encoders = {"model": encode_pool_and_contexts(encoder, contexts, texts)}
    if keep is not None:
        keep(*encoders["model"])
    if start is not None:
        encoders["init"] = start_embeddings(start, featurizer, contexts, texts, cache)
    context_strings = featurizer.context_strings(contexts)
    bm25 = functools.cache(lambda: Bm25Ranker(texts))
    texts_key = texts_fingerprint(contexts, texts)

    def lexical(what: str, compute: Callable[[], RankedSplit]) -> RankedSplit:
        """A lexical baseline depends on the texts alone: cached like the start's embeddings."""
        if cache is None:
            return compute()
        found = cache.arrays(f"{what}-{texts_key[:24]}", lambda: (lambda r: {**r.values, "echo_top1": np.array([r.echo_top1])})(compute()))
        return RankedSplit({k: v for k, v in found.items() if k != "echo_top1"}, float(found["echo_top1"][0]))

    # TF-IDF's sparse × sparse product with bigrams grows with the pool: ~minutes per thousand
    # queries at 122k candidates. BM25, the stronger lexical baseline, is scored at any size.
    tfidf = TfidfRanker([t for p in train for t in (*p.context, p.response)], texts) if len(texts) <= TFIDF_MAX_POOL else None
    reports: dict[str, Any] = {}
    offset = 0
    for name, rows in splits.items():
        lo, n = offset, len(rows)
        offset += n
        relevant = [[where[p.response]] for p in rows]
        excluded = [echo.echo_indices(p.context, pool_keys) for p in rows]
        unreachable = sum(1 for r, ex in zip(relevant, excluded) if r[0] in set(ex))
        rankers = {key: rank_queries(lambda a, b, c=ctx, pool=pool: c[lo + a:lo + b] @ pool.T, n, relevant, excluded, len(texts))
                   for key, (ctx, pool) in encoders.items()}
        rankers["bm25"] = lexical(f"bm25-{name}", lambda: rank_queries(lambda a, b: bm25().scores(context_strings[lo + a:lo + b]),
                                                                       n, relevant, excluded, len(texts)))
        if tfidf is not None:
            rankers["tfidf"] = rank_queries(lambda a, b: tfidf.scores(context_strings[lo + a:lo + b]), n, relevant, excluded, len(texts))
        random = random_retrieval_metrics(len(texts) - int(np.mean([len(e) for e in excluded])) if excluded else len(texts), relevant)
        reports[name] = _split_report(rankers, random, n, len(texts), unreachable, seed)
    report = reports["eval"]
    report["echo"] = {"rule": echo.RULE, "evalUnreachable": report["eval"]["unreachable"]}
    if "test" in reports:
        report["test"] = reports["test"]
    return report


def gain_over(metrics: Mapping[str, float], start: Mapping[str, float]) -> dict[str, float]:
    """How far each metric moved from the starting checkpoint's (positive = training helped)."""
    return {k: float(v) - float(start[k]) for k, v in metrics.items() if k in start}


def evaluate_binary(model: Any, features: Mapping[str, np.ndarray]) -> dict[str, Any]:
    import keras

    inputs = {k: v for k, v in features.items() if k != "label"}
    labels = features["label"]
    probabilities = predict(lambda f: keras.ops.sigmoid(model(f, training=False)), inputs, pad_id=_pad_id(model))
    majority = float(max(labels.mean(), 1.0 - labels.mean()))
    return {
        "metrics": binary_metrics(labels, probabilities),
        "intervals": binary_intervals(labels, probabilities),
        "baselines": {"majority": {"accuracy": majority, "roc_auc": 0.5}},
        "eval": {"examples": int(labels.size), "positive": int(labels.sum())},
    }


def binary_intervals(labels: np.ndarray, probabilities: np.ndarray, resamples: int = 1000, seed: int = 0) -> dict[str, list[float]]:
    """95 % percentile-bootstrap intervals of accuracy and ROC-AUC (examples resampled)."""
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    correct = ((probabilities >= 0.5).astype(np.int64) == labels).astype(np.float64)
    rng = np.random.default_rng(seed)
    found: dict[str, list[float]] = {"accuracy": [], "roc_auc": []}
    for _ in range(resamples):
        idx = rng.integers(0, labels.size, labels.size)
        found["accuracy"].append(float(correct[idx].mean()))
        found["roc_auc"].append(roc_auc(labels[idx], probabilities[idx]))
    return {k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for k, v in found.items()}


def evaluate_masked_lm(model: Any, task: Any, input_ids: np.ndarray, seed: int) -> dict[str, Any]:
    import keras

    batch = task.mask(input_ids, np.random.default_rng([seed, 12345]))
    inputs = {"input_ids": batch["input_ids"], "masked_positions": batch["masked_positions"]}
    predictions = predict(lambda f: keras.ops.argmax(model(f, training=False), axis=-1), inputs, pad_id=_pad_id(model))
    return {
        "metrics": {"mlm_accuracy": masked_lm_accuracy(predictions, batch["masked_ids"], batch["masked_weights"])},
        "baselines": {},
        "eval": {"texts": int(input_ids.shape[0]), "masked": int(batch["masked_weights"].sum())},
    }


def flat_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """Task metrics plus `<baseline>_<metric>` numbers, for the REJOINDER_METRICS line, with the
    gain's bootstrap interval as `gain_<metric>:lo`/`:hi`; a test split's numbers follow with the
    `test_` prefix."""
    out = {k: float(v) for k, v in report["metrics"].items()}
    for name, values in report.get("baselines", {}).items():
        out.update({f"{name}_{k}": float(v) for k, v in values.items()})
    out.update({f"{GAIN_PREFIX}{k}": float(v) for k, v in report.get("gainOverStart", {}).items()})
    for k, (lo, hi) in report.get("gainIntervals", {}).items():
        out.update({f"{GAIN_PREFIX}{k}{CI_LOW}": float(lo), f"{GAIN_PREFIX}{k}{CI_HIGH}": float(hi)})
    respond = report.get("respond", {})
    for order_name in ("retrieve", "respond", "blend"):
        out.update({f"{order_name}_{k}": float(v) for k, v in respond.get("eval", {}).get(order_name, {}).items()})
        out.update({f"{TEST_PREFIX}{order_name}_{k}": float(v) for k, v in respond.get("test", {}).get(order_name, {}).items()})
    if "test" in report:
        out.update({f"{TEST_PREFIX}{k}": v for k, v in flat_metrics(report["test"]).items()})
    return out


def format_table(report: Mapping[str, Any], title: str = "") -> str:
    """The metrics with each baseline beside them, for people; intervals where they were
    computed; a test split's table after the eval (dev) one."""
    names = list(report["metrics"])
    baselines = report.get("baselines", {})
    gain = report.get("gainOverStart")
    intervals, gain_intervals = report.get("intervals", {}), report.get("gainIntervals", {})
    header = ["metric", "model", *(["95% interval"] if intervals else []), *baselines,
              *(["gain over init"] if gain else [])]

    def gain_cell(n: str) -> str:
        if n not in gain:
            return "-"
        lo_hi = gain_intervals.get(n)
        return f"{gain[n]:+.4f}" + (f" [{lo_hi[0]:+.4f}, {lo_hi[1]:+.4f}]" if lo_hi else "")

    rows = [[n, f"{report['metrics'][n]:.4f}",
             *([f"[{intervals[n][0]:.4f}, {intervals[n][1]:.4f}]" if n in intervals else "-"] if intervals else []),
             *(f"{b[n]:.4f}" if n in b else "-" for b in baselines.values()),
             *([gain_cell(n)] if gain else [])] for n in names]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths))  # noqa: E731
    lines = ([title] if title else []) + [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    labels = report.get("labels")
    if labels:
        lines.append(f"labels: {labels['description']}")
    if "test" in report:
        sizes = report["test"].get("eval", {})
        count = f"{sizes['queries']} queries" if "queries" in sizes else f"{sizes.get('examples', '?')} examples"
        lines += ["", format_table(report["test"], title=f"test split ({count})")]
    return "\n".join(lines)
