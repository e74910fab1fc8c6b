"""Load what a server serves: bundle(s) and index, with the precision and XLA the spec asks for."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from rejoinder.models.precision import resolve_on_this_machine
from rejoinder.models.shapes import DEFAULT_MAX_BATCH_SIZE
from rejoinder.tasks import task_module

from .config import SERVING_DEFAULTS
from .index import LoadedIndex
from .runtime import ServingRuntime
from .service import ServedIdentity

log = logging.getLogger(__name__)


def load_model_bundle(
    path: Path, precision: str = "float32", xla: bool = False, batch_sizes: Optional[Sequence[int]] = None,
    sequence_buckets: Optional[Sequence[int]] = None, *, max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
) -> Any:
    """An exported bundle (rejoinder.models.bundle.ModelBundle) padding to `batch_sizes` (None:
    the bundle's policy up to `max_batch_size`) × the sequence buckets (None: derived from the
    model's lengths)."""
    from rejoinder.models.bundle import load_bundle

    path = Path(path)
    if not (path / "manifest.json").is_file():
        raise FileNotFoundError(f"{path}: no manifest.json — not a finished export (training writes it last)")
    return load_bundle(
        path, precision=precision, xla=xla,
        batch_sizes=batch_sizes, sequence_buckets=sequence_buckets, max_batch_size=max_batch_size,
    )


@dataclass
class LoadRequest:
    """Everything `rejoinder serve` resolved from -f and/or explicit paths."""

    bundle_dir: Path
    index_dir: Optional[Path] = None
    reranker_dir: Optional[Path] = None
    precision: str = str(SERVING_DEFAULTS.mixed_precision)
    xla: bool = SERVING_DEFAULTS.xla
    max_batch_size: int = SERVING_DEFAULTS.batching.max_batch_size
    sequence_buckets: Optional[tuple[int, ...]] = None  # None: derived from the model's lengths
    gpu: bool = False  # FAISS index on GPU when available
    name: str = ""
    namespace: str = ""


def load_runtime(req: LoadRequest) -> tuple[ServingRuntime, ServedIdentity]:
    precision = resolve_on_this_machine(req.precision).compute_dtype
    log.info("loading bundle %s (precision %s, XLA %s)", req.bundle_dir, precision, "on" if req.xla else "off")
    bundle = load_model_bundle(req.bundle_dir, precision, req.xla, sequence_buckets=req.sequence_buckets,
                               max_batch_size=req.max_batch_size)
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
        reranker = load_model_bundle(req.reranker_dir, precision, req.xla, sequence_buckets=req.sequence_buckets,
                                     max_batch_size=req.max_batch_size)
        if not task_module(reranker.task).scores_pairs:
            raise ValueError(f"{req.reranker_dir} is a {reranker.task} model, not a reranker")
    runtime = ServingRuntime(bundle, task, index=index, reranker=reranker)
    identity = ServedIdentity(
        name=req.name, namespace=req.namespace, task=task.value,
        architecture=bundle.architecture.value,
        model_version=str(bundle.version),
        index_version=index.manifest.get("indexVersion", index.path.name) if index else "",
        reranker_version=str(reranker.version) if reranker is not None else "",
        precision=precision, xla=req.xla,
    )
    return runtime, identity
