"""Load what a server serves: bundle(s) and index, with the precision and XLA the spec asks for."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from rejoinder.cpus import allowed_cpus, has_vnni
from rejoinder.inference.choice import ONNXRUNTIME, EngineChoice, choose_engine
from rejoinder.models.shapes import DEFAULT_MAX_BATCH_SIZE
from rejoinder.tasks import task_module

from .config import SERVING_DEFAULTS
from .index import LoadedIndex, search_threads, set_search_threads
from .runtime import ServingRuntime
from .service import ServedIdentity

log = logging.getLogger(__name__)


def load_model_bundle(
    path: Path, precision: str = "float32", xla: bool = False, batch_sizes: Optional[Sequence[int]] = None,
    sequence_buckets: Optional[Sequence[int]] = None, *, max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    runtime: str = "tensorflow", threads: Optional[int] = None,
) -> Any:
    """An exported bundle (rejoinder.models.bundle.ModelBundle) padding to `batch_sizes` (None:
    the bundle's policy up to `max_batch_size`) × the sequence buckets (None: derived from the
    model's lengths), run by `runtime` (tensorflow | onnxruntime) at a resolved precision."""
    from rejoinder.models.bundle import load_bundle

    path = Path(path)
    if not (path / "manifest.json").is_file():
        raise FileNotFoundError(f"{path}: no manifest.json — not a finished export (training writes it last)")
    return load_bundle(
        path, precision=precision, xla=xla,
        batch_sizes=batch_sizes, sequence_buckets=sequence_buckets, max_batch_size=max_batch_size,
        runtime=runtime, threads=threads,
    )


def choose_for_bundle(path: Path, runtime: str, precision: str) -> EngineChoice:
    """Which runtime and precision serve the bundle at `path` on this machine (and why)."""
    from rejoinder.models.bundle import read_manifest

    inference = read_manifest(Path(path)).get("inference")
    gpu = runtime != "onnxruntime" and precision != "int8" and _tensorflow_sees_a_gpu()
    return choose_engine(runtime, precision, inference, gpu=gpu, vnni=has_vnni())


def _tensorflow_sees_a_gpu() -> bool:
    """Only asked where the answer matters: importing TensorFlow costs seconds and memory, so a
    CPU image serving the ONNX export never imports it (its serving image need not ship it)."""
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None or not any(Path("/dev").glob("nvidia[0-9]*")):
        return False  # no TensorFlow, or no NVIDIA device node: no GPU TensorFlow could use
    from rejoinder.models.precision import gpu_available

    return gpu_available()


def load_for_serving(path: Path, choice: EngineChoice, xla: bool, cpus: int, *, sequence_buckets: Optional[Sequence[int]],
                     max_batch_size: int) -> Any:
    """The bundle as `choice` says: ONNX Runtime (threads = the CPUs this process may use) or TensorFlow."""
    if choice.runtime == ONNXRUNTIME:
        return load_model_bundle(path, choice.precision, False, sequence_buckets=sequence_buckets,
                                 max_batch_size=max_batch_size, runtime=ONNXRUNTIME, threads=cpus)
    size_tensorflow_pools(cpus)
    return load_model_bundle(path, choice.precision, xla, sequence_buckets=sequence_buckets, max_batch_size=max_batch_size)


@dataclass
class LoadRequest:
    """Everything `rejoinder serve` resolved from -f and/or explicit paths."""

    bundle_dir: Path
    index_dir: Optional[Path] = None
    reranker_dir: Optional[Path] = None
    precision: str = str(SERVING_DEFAULTS.mixed_precision)
    runtime: str = str(SERVING_DEFAULTS.runtime)
    xla: bool = SERVING_DEFAULTS.xla
    max_batch_size: int = SERVING_DEFAULTS.batching.max_batch_size
    sequence_buckets: Optional[tuple[int, ...]] = None  # None: derived from the model's lengths
    gpu: bool = False  # FAISS index on GPU when available
    search_threads: Optional[int] = None  # FAISS threads; None: index.search_threads' rule
    name: str = ""
    namespace: str = ""


def size_tensorflow_pools(cpus: int) -> None:
    """TensorFlow's thread pools sized to the CPUs this process may use (a pod's CPU limit), not
    the node's cores; a no-op where they are the same. Must run before TensorFlow's first op."""
    import os

    if cpus >= (os.cpu_count() or cpus):
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(cpus)
        log.info("TensorFlow sized to %d CPU(s) (this process's CPU quota / affinity)", cpus)
    except RuntimeError as error:  # TensorFlow already ran an op in this process
        log.warning("could not size TensorFlow's thread pools to %d CPU(s): %s", cpus, error)


def load_runtime(req: LoadRequest) -> tuple[ServingRuntime, ServedIdentity]:
    cpus = allowed_cpus()
    choice = choose_for_bundle(req.bundle_dir, req.runtime, req.precision)
    xla = req.xla and choice.runtime != ONNXRUNTIME
    log.info("loading bundle %s: %s, %s (%s)%s", req.bundle_dir, choice.runtime, choice.precision, choice.reason,
             f", XLA {'on' if xla else 'off'}" if choice.runtime != ONNXRUNTIME else "")
    bundle = load_for_serving(req.bundle_dir, choice, xla, cpus, sequence_buckets=req.sequence_buckets,
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
        threads = search_threads(cpus, req.search_threads)
        set_search_threads(threads)
        log.info("index %s: %d candidates, %s, searched with %d thread(s) of %d CPU(s)",
                 req.index_dir, index.size, index.params.kind, threads, cpus)
    reranker = None
    if req.reranker_dir is not None:
        reranker_choice = choose_for_bundle(req.reranker_dir, req.runtime, req.precision)
        log.info("loading reranker %s: %s, %s (%s)", req.reranker_dir, reranker_choice.runtime,
                 reranker_choice.precision, reranker_choice.reason)
        reranker = load_for_serving(req.reranker_dir, reranker_choice, req.xla and reranker_choice.runtime != ONNXRUNTIME,
                                    cpus, sequence_buckets=req.sequence_buckets, max_batch_size=req.max_batch_size)
        if not task_module(reranker.task).scores_pairs:
            raise ValueError(f"{req.reranker_dir} is a {reranker.task} model, not a reranker")
    runtime = ServingRuntime(bundle, task, index=index, reranker=reranker)
    identity = ServedIdentity(
        name=req.name, namespace=req.namespace, task=task.value,
        architecture=bundle.architecture.value,
        model_version=str(bundle.version),
        index_version=index.manifest.get("indexVersion", index.path.name) if index else "",
        reranker_version=str(reranker.version) if reranker is not None else "",
        precision=choice.precision, xla=xla, runtime=choice.runtime, precision_reason=choice.reason,
    )
    return runtime, identity
