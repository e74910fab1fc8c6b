"""Load what a server serves: bundle(s) and index, with the precision and XLA the spec asks for."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from rejoinder.tasks import task_module

from .index import LoadedIndex
from .runtime import Runtime
from .shapes import batch_shapes
from .service import ServedIdentity

log = logging.getLogger(__name__)


def gpu_present() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def resolve_precision(requested: str, gpu: bool) -> str:
    """spec.serving.mixedPrecision → the compute precision: auto is float16 on a GPU, float32 on a
    CPU (CPUs gain nothing from float16 and little from bfloat16; docs/benchmarks.md)."""
    if requested == "auto":
        return "float16" if gpu else "float32"
    if requested in ("none", "float32"):
        return "float32"
    if requested in ("float16", "bfloat16"):
        return requested
    raise ValueError(f"unknown precision {requested!r}: expected auto, none, float16 or bfloat16")


def load_model_bundle(
    path: Path, precision: str = "float32", xla: bool = False, batch_sizes: Optional[Sequence[int]] = None,
    sequence_buckets: Optional[Sequence[int]] = None,
) -> Any:
    """An exported bundle (rejoinder.models.bundle.ModelBundle) padding to `batch_sizes` × the
    sequence buckets (None: derived from the model's lengths)."""
    from rejoinder.models.bundle import DEFAULT_BATCH_SIZES, load_bundle

    path = Path(path)
    if not (path / "manifest.json").is_file():
        raise FileNotFoundError(f"{path}: no manifest.json — not a finished export (training writes it last)")
    return load_bundle(
        path, precision="none" if precision == "float32" else precision, xla=xla,
        batch_sizes=tuple(batch_sizes or DEFAULT_BATCH_SIZES), sequence_buckets=sequence_buckets,
    )


@dataclass
class LoadRequest:
    """Everything `rejoinder serve` resolved from -f and/or explicit paths."""

    bundle_dir: Path
    index_dir: Optional[Path] = None
    reranker_dir: Optional[Path] = None
    precision: str = "auto"
    xla: bool = True
    max_batch_size: int = 32
    sequence_buckets: Optional[tuple[int, ...]] = None  # None: derived from the model's lengths
    gpu: bool = False  # FAISS index on GPU when available
    name: str = ""
    namespace: str = ""


def load_runtime(req: LoadRequest) -> tuple[Runtime, ServedIdentity]:
    gpu = gpu_present()
    precision = resolve_precision(req.precision, gpu)
    log.info("loading bundle %s (precision %s, XLA %s)", req.bundle_dir, precision, "on" if req.xla else "off")
    shapes = batch_shapes(req.max_batch_size)
    bundle = load_model_bundle(req.bundle_dir, precision, req.xla, shapes, req.sequence_buckets)
    task = bundle.task
    index = None
    if task_module(task).builds_index:
        if req.index_dir is None:
            raise FileNotFoundError(f"a {task} model needs its index: pass --index or build it with build-index")
        index = LoadedIndex.load(req.index_dir, use_gpu=req.gpu)
        if index.dim != bundle.embedding_dim:
            raise ValueError(
                f"index {req.index_dir} holds {index.dim}-d vectors but the model embeds in {bundle.embedding_dim}-d: "
                "rebuild the index for this model version"
            )
        log.info("index %s: %d candidates, %s", req.index_dir, index.size, index.params.kind)
    reranker = None
    if req.reranker_dir is not None:
        reranker = load_model_bundle(req.reranker_dir, precision, req.xla, shapes, req.sequence_buckets)
        if not task_module(reranker.task).scores_pairs:
            raise ValueError(f"{req.reranker_dir} is a {reranker.task} model, not a reranker")
    runtime = Runtime(bundle, task, index=index, reranker=reranker)
    identity = ServedIdentity(
        name=req.name, namespace=req.namespace, task=task.value,
        architecture=bundle.architecture.value,
        model_version=str(bundle.version),
        index_version=index.manifest.get("indexVersion", index.path.name) if index else "",
        reranker_version=str(reranker.version) if reranker is not None else "",
        precision=precision, xla=req.xla,
    )
    return runtime, identity
