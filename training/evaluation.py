"""Held-out evaluation of a trained task model (rank 0), with the baselines beside it.

    retrieval        mAP, recall@1/5/20 of each eval context against the whole candidate pool;
                     the same for the untrained start (init_*: the initial checkpoint with the
                     same tokenizer and pooling), BM25, TF-IDF and the expected value of a
                     random ranker; `gainOverStart` = model − start
    reranking        accuracy and ROC-AUC of P(upvote)
    session-scoring  accuracy and ROC-AUC of P(good session)
    pretraining      masked-LM accuracy on the eval texts, masked with a fixed seed

Returns {"metrics": {...}, "baselines": {...}, "eval": {sizes}} (+ "gainOverStart");
`flat_metrics` turns that into the one-line numbers of REJOINDER_METRICS.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from rejoinder.models.shapes import SequenceBuckets, plan_chunks, row_lengths, trim
from rejoinder.progress_lines import GAIN_PREFIX

from .bm25_baseline import Bm25Ranker
from .metrics import binary_metrics, masked_lm_accuracy, random_retrieval_metrics, retrieval_metrics
from .tfidf_baseline import TfidfRanker

log = logging.getLogger(__name__)

EVAL_BATCH = 64  # rows per call; padded to this, so inference compiles once per sequence bucket
QUERY_CHUNK = 1024  # score matrix rows held at once (queries × candidates floats)


def predict(fn: Callable, features: Mapping[str, np.ndarray], batch: int = EVAL_BATCH, *, pad_id: int) -> np.ndarray:
    """Run `fn(batch_dict)` over all rows in padded batches of `batch` rows; float32 numpy out, in
    the input order. Rows are sorted by length and each batch is cut to its longest row's
    sequence bucket (the serving buckets' default; masks make the cut padding invisible)."""
    import tensorflow as tf

    compiled = tf.function(fn, reduce_retracing=True)
    lengths = row_lengths(features, pad_id)
    buckets = SequenceBuckets.for_length(max(v.shape[1] for k, v in features.items() if k.endswith("_ids")))
    out: np.ndarray | None = None
    for chunk in plan_chunks(lengths, buckets, batch):
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


def chunked_retrieval_metrics(score_rows: Callable[[int, int], np.ndarray], n: int,
                              relevant: Sequence[Sequence[int]]) -> dict[str, float]:
    """retrieval_metrics over query chunks (the full queries × candidates matrix may not fit in
    memory), averaged; `score_rows(start, stop)` gives the score rows of those queries."""
    totals: dict[str, float] = {}
    for start in range(0, n, QUERY_CHUNK):
        stop = min(start + QUERY_CHUNK, n)
        part = retrieval_metrics(score_rows(start, stop), relevant[start:stop])
        rows = stop - start
        for key, value in part.items():
            totals[key] = totals.get(key, 0.0) + value * rows
    return {k: v / n for k, v in totals.items()}


def encoder_retrieval_metrics(model: Any, featurizer: Any, held: Sequence[Any], texts: Sequence[str],
                              relevant: Sequence[Sequence[int]]) -> dict[str, float]:
    """Held-out contexts against the candidate pool through a dual encoder's two towers."""
    pad = _pad_id(model)
    contexts = predict(lambda f: model.encode_context(f["context_ids"]), {"context_ids": featurizer.contexts([p.context for p in held])}, pad_id=pad)
    pool = predict(lambda f: model.encode_response(f["response_ids"]), {"response_ids": featurizer.responses(texts)}, pad_id=pad)
    return chunked_retrieval_metrics(lambda a, b: contexts[a:b] @ pool.T, len(held), relevant)


def evaluate_retrieval(model: Any, featurizer: Any, train: Sequence[Any], held: Sequence[Any], candidates: Sequence[Any],
                       start: Any = None) -> dict[str, Any]:
    """`start`: the untrained initial model (same config, init applied), scored as baseline
    `init` when the model was initialised from a checkpoint."""
    texts = [c.text for c in candidates]
    where = {t: i for i, t in enumerate(texts)}
    missing = [p.response for p in held if p.response not in where]
    if missing:
        raise ValueError(f"{len(missing)} held-out responses are not in the candidate pool (e.g. {missing[0]!r})")
    relevant = [[where[p.response]] for p in held]
    metrics = encoder_retrieval_metrics(model, featurizer, held, texts, relevant)
    baselines: dict[str, dict[str, float]] = {}
    if start is not None:
        baselines["init"] = encoder_retrieval_metrics(start, featurizer, held, texts, relevant)

    # The lexical baselines see the same context text the model sees (last maxContextTurns turns, ###).
    context_strings = featurizer.context_strings([p.context for p in held])
    bm25 = Bm25Ranker(texts)
    baselines["bm25"] = chunked_retrieval_metrics(lambda a, b: bm25.scores(context_strings[a:b]), len(held), relevant)
    ranker = TfidfRanker([t for p in train for t in (*p.context, p.response)], texts)
    baselines["tfidf"] = chunked_retrieval_metrics(lambda a, b: ranker.scores(context_strings[a:b]), len(held), relevant)
    baselines["random"] = random_retrieval_metrics(len(texts), relevant)
    report: dict[str, Any] = {
        "metrics": metrics,
        "baselines": baselines,
        "eval": {"queries": len(held), "candidates": len(texts)},
    }
    if start is not None:
        report["gainOverStart"] = gain_over(metrics, baselines["init"])
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
        "baselines": {"majority": {"accuracy": majority, "roc_auc": 0.5}},
        "eval": {"examples": int(labels.size), "positive": int(labels.sum())},
    }


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
    """Task metrics plus `<baseline>_<metric>` numbers, for the REJOINDER_METRICS line."""
    out = {k: float(v) for k, v in report["metrics"].items()}
    for name, values in report.get("baselines", {}).items():
        out.update({f"{name}_{k}": float(v) for k, v in values.items()})
    out.update({f"{GAIN_PREFIX}{k}": float(v) for k, v in report.get("gainOverStart", {}).items()})
    return out


def format_table(report: Mapping[str, Any]) -> str:
    """The metrics with each baseline beside them, for people."""
    names = list(report["metrics"])
    baselines = report.get("baselines", {})
    gain = report.get("gainOverStart")
    header = ["metric", "model", *baselines, *(["gain over init"] if gain else [])]
    rows = [[n, f"{report['metrics'][n]:.4f}", *(f"{b[n]:.4f}" if n in b else "-" for b in baselines.values()),
             *([f"{gain[n]:+.4f}" if n in gain else "-"] if gain else [])] for n in names]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths))  # noqa: E731
    lines = [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    labels = report.get("labels")
    if labels:
        lines.append(f"labels: {labels['description']}")
    return "\n".join(lines)
