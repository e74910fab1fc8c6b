"""The exported model bundle (`versions/<v>/export/`, format `rejoinder.bundle/v1`).

Layout::

    export/
      manifest.json          format, version, task, architecture, spec, metrics, created,
                             sequence lengths, embeddingDim, vocabSize, files
      model/config.json      rejoinder.models.config.ModelConfig (rebuilt by code at load time)
      model/model.weights.h5 Keras 3 weights (float32 variables, whatever the load precision)
      tokenizer/             tokenizer.json + bpe.model or vocab.txt
      onnx/                  the fast path (BERT only): *.onnx float32 graphs, *.int8.onnx where
                             the int8 gate passed; manifest "inference" says which and why
                             (rejoinder.inference)

API::

    save_bundle(export_dir, model, tokenizer, spec, *, version, metrics=None, extra=None,
                held_out=None, fast_path=True) -> Path
        Training's export: written beside `export_dir` and renamed into place in one step, so a
        reader sees the old bundle or the complete new one (manifest.json included).
    load_bundle(path, precision="none"|"float32"|"float16"|"bfloat16"|"auto"|"int8", xla=False,
                batch_sizes=None, sequence_buckets=None, *, max_batch_size=128,
                runtime="tensorflow"|"onnxruntime", threads=None) -> ModelBundle
        runtime onnxruntime: the bundle's ONNX export (onnx/, manifest "inference"; float32 or
        int8), no TensorFlow import; `.model` is then None and `.runtime` says which ran.
        batch_sizes: the batch sizes a call is padded to; None = powers of two up to
        `max_batch_size` (`shapes.batch_sizes_up_to`: the one batch-shape policy, which the
        server uses with spec.serving.batching.maxBatchSize).
        precision: resolved by `precision.resolve_precision` (auto: float16 on a GPU).
        sequence_buckets: the sequence lengths a batch is padded to (its longest row's bucket);
        None = the default derived from the model's lengths (`shapes.default_sequence_buckets`),
        [maxSeqLength] = every row padded to the full length (fixed shapes).
    build_for_spec(spec, tokenizer, *, precision=None, base_dir=None, resolve_dialog_model=None)
        -> (TaskModel, list[ImportReport])       training: the model for a spec, init applied
    create_random_bundle(spec, export_dir, *, texts=None, seed=0, version=None, base_dir=None)
        -> Path                                   an untrained bundle for tests/servers

ModelBundle (what the server uses):

    .manifest .task .architecture .version .embedding_dim .tokenizer .featurizer .model
    .kinds                      the input kinds this task serves: "context", "response" (retrieval),
                                "pair" (reranking), "session" (session-scoring); none for pretraining
    High level (any n; sorted by length, chunked, padded to `batch_sizes` × the sequence buckets
    internally — off XLA with default buckets, buckets of 8 tokens — results in input order):
      encode_contexts(list[list[str]]) -> float32 [n, d], L2-normalised     retrieval
      encode_responses(list[str])      -> float32 [n, d], L2-normalised     retrieval
      score_pairs(contexts, responses) -> float32 [n], P(upvote)            reranking
      score_sessions(list[list[str]])  -> float32 [n], P(good session)      session-scoring
      A method the task does not support raises UnsupportedTask.
    Id level (for a batchifier that pads to a few fixed shapes; XLA compiles once per shape):
      tokenize(kind, ...) -> dict[str, int32 array [n, L]]   e.g. tokenize("pair", contexts, responses)
      lengths(kind, ...) -> int array [n]: each row's tokens ([CLS]/[SEP] included)
      sequence_buckets(kind) -> SequenceBuckets of that input kind
      pad(features, size) -> features with `size` rows (extra rows are padding)
      bucket(n) -> the smallest configured batch size ≥ n
      shape(kind, features) -> the features cut to their bucket and padded to their batch size
      run(kind, features) -> float32 array with one row per input row (no padding added)
      warmup() compiles every kind at every (batch size, sequence bucket); `shapes` lists them
      tracing_count() -> how many shapes have been traced (TensorFlow), for no-recompile checks
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import numpy as np
from tqdm import tqdm

from .. import atomic
from ..api.spec import Architecture, Task
from ..text.features import Featurizer
from ..text.tokenizer import Tokenizer, load_tokenizer
from .config import ModelConfig, model_config_from_spec
from .precision import resolve_on_this_machine
from .shapes import (BULK_BUCKET_STEP, DEFAULT_MAX_BATCH_SIZE, SequenceBuckets, batch_sizes_up_to,
                     default_sequence_buckets, plan_chunks, row_lengths, trim)

log = logging.getLogger(__name__)

FORMAT = "rejoinder.bundle/v1"
MANIFEST = "manifest.json"
CONFIG_FILE = "model/config.json"
WEIGHTS_FILE = "model/model.weights.h5"
TOKENIZER_DIR = "tokenizer"
RANDOM_HELD_OUT = 256  # chatterbot pairs a random bundle's fast path is checked on


class BundleError(ValueError):
    """A bundle directory that is missing files or is not a rejoinder bundle."""


class UnsupportedTask(RuntimeError):
    """A serving call the bundle's task does not answer (e.g. score_pairs on a retrieval model)."""


# --- save ---------------------------------------------------------------------------------------


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def _spec_wire(spec: Any) -> Optional[dict[str, Any]]:
    if spec is None:
        return None
    return spec.to_wire() if hasattr(spec, "to_wire") else dict(spec)


def save_bundle(
    export_dir: Union[str, Path],
    model: Any,
    tokenizer: Tokenizer,
    spec: Any,
    *,
    version: str,
    metrics: Optional[Mapping[str, Any]] = None,
    extra: Optional[Mapping[str, Any]] = None,
    held_out: Optional[Any] = None,
    fast_path: bool = True,
) -> Path:
    """Write `model` (a TaskModel from `build_model`/`build_for_spec`) as a bundle at `export_dir`.

    With `fast_path` the bundle also gets its ONNX export, int8 and the int8 gate's verdict on
    `held_out` (a rejoinder.inference.export.HeldOut), recorded under the manifest's "inference"."""
    import keras

    from ..inference.export import export_fast_path

    config: ModelConfig = model.model_config
    if config.vocab_size != tokenizer.vocab_size:
        raise BundleError(f"model has {config.vocab_size} token ids but the tokenizer {tokenizer.vocab_size}")
    export_dir = Path(export_dir)
    with atomic.publish_dir(export_dir) as tmp:
        (tmp / "model").mkdir()
        atomic.write_json(tmp / CONFIG_FILE, config.to_json())
        model.save_weights(str(tmp / WEIGHTS_FILE))
        tokenizer.save(tmp / TOKENIZER_DIR)
        inference = (export_fast_path(model, Featurizer(tokenizer, config.sequence), tmp, held_out)
                     if fast_path else {"reason": "exported without the fast path"})
        manifest = {
            "format": FORMAT,
            "version": version,
            "task": config.task.value,
            "architecture": config.architecture.value,
            "spec": _spec_wire(spec),
            "metrics": dict(metrics or {}),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "sequence": {_camel(k): v for k, v in config.sequence.to_json().items()},
            "embeddingDim": config.embedding_dim,
            "vocabSize": config.vocab_size,
            "tokenizer": tokenizer.kind,
            "files": {"config": CONFIG_FILE, "weights": WEIGHTS_FILE, "tokenizer": TOKENIZER_DIR + "/"},
            "keras": keras.__version__,
            "inference": inference,
            **dict(extra or {}),
        }
        atomic.write_json(tmp / MANIFEST, manifest)  # last: its presence means "complete"
    log.info("exported %s bundle %s to %s", config.task, version, export_dir)
    return export_dir


# --- load ---------------------------------------------------------------------------------------


def update_manifest(path: Union[str, Path], fields: Mapping[str, Any]) -> None:
    """Set top-level manifest fields of an exported bundle (training adds its evaluation after the
    export it evaluated), written atomically."""
    manifest = read_manifest(path)
    atomic.write_json(Path(path) / MANIFEST, {**manifest, **dict(fields)})


def read_manifest(path: Union[str, Path]) -> dict[str, Any]:
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{path}: no {MANIFEST}; not an exported bundle (or its export has not finished)")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{manifest_path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest


def _compile(fn: Callable, xla: bool) -> Callable:
    """One compiled function per input shape: XLA traces each padded batch size once."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=xla, reduce_retracing=False)
    if backend == "jax" and xla:
        import jax

        return jax.jit(fn)
    return fn


def load_bundle(
    path: Union[str, Path],
    precision: str = "none",
    xla: bool = False,
    batch_sizes: Optional[Sequence[int]] = None,
    sequence_buckets: Optional[Sequence[int]] = None,
    *,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    runtime: str = "tensorflow",
    threads: Optional[int] = None,
) -> "ModelBundle":
    """Rebuild a bundle's model at `precision` (none/float32/float16/bfloat16/auto) with XLA on or
    off, padding calls to `batch_sizes` (default: `batch_sizes_up_to(max_batch_size)`).

    runtime "onnxruntime" runs the bundle's ONNX export instead (precision none/float32 or int8;
    `threads` for its sessions) and never imports TensorFlow; rejoinder.inference.choice says
    which runtime and precision a server should ask for."""
    path = Path(path)
    manifest = read_manifest(path)
    needed = (CONFIG_FILE, TOKENIZER_DIR) + ((WEIGHTS_FILE,) if runtime == "tensorflow" else ())
    for rel in needed:
        if not (path / rel).exists():
            raise BundleError(f"{path}: {rel} is missing")
    config = ModelConfig.from_json(json.loads((path / CONFIG_FILE).read_text()))
    tokenizer = load_tokenizer(path / TOKENIZER_DIR)
    sizes = tuple(batch_sizes) if batch_sizes else batch_sizes_up_to(max_batch_size)
    if runtime == "onnxruntime":
        from ..inference.choice import onnx_files
        from ..inference.engine import OnnxEngine

        wanted = "float32" if precision in ("none", "float32") else precision
        files = onnx_files(manifest.get("inference"), wanted)
        if files is None:
            why = (manifest.get("inference") or {}).get(wanted, {}).get("reason") or (manifest.get("inference") or {}).get("reason")
            raise BundleError(f"{path}: no {wanted} ONNX export" + (f" ({why})" if why else ""))
        engine = OnnxEngine(path, files, threads)
        log.info("loaded %s bundle %s (ONNX Runtime, %s)", config.task, manifest.get("version"), wanted)
        return ModelBundle(path, manifest, config, tokenizer, None, wanted, False, sizes, sequence_buckets, engine=engine)
    if runtime != "tensorflow":
        raise ValueError(f"unknown runtime {runtime!r}: expected tensorflow or onnxruntime")
    from .build import build_model

    precision = resolve_on_this_machine(precision).model_precision
    model = build_model(config, precision=precision)
    model.load_weights(str(path / WEIGHTS_FILE))
    log.info("loaded %s bundle %s (precision %s, xla %s)", config.task, manifest.get("version"), precision, xla)
    return ModelBundle(path, manifest, config, tokenizer, model, precision, xla, sizes, sequence_buckets)


class ModelBundle:
    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        config: ModelConfig,
        tokenizer: Tokenizer,
        model: Any,
        precision: str,
        xla: bool,
        batch_sizes: Sequence[int],
        sequence_buckets: Optional[Sequence[int]] = None,
        engine: Optional[Any] = None,
    ):
        if not batch_sizes or any(b < 1 for b in batch_sizes):
            raise ValueError(f"batch_sizes must be positive, got {batch_sizes}")
        self.path = path
        self.manifest = manifest
        self.config = config
        self.tokenizer = tokenizer
        self.featurizer = Featurizer(tokenizer, config.sequence)
        self.model = model
        self.precision = precision
        self.xla = xla
        self.batch_sizes = tuple(sorted(set(batch_sizes)))
        self._buckets = {
            kind: SequenceBuckets.for_length(self._full_length(kind), sequence_buckets) for kind in self.kinds
        }
        # Bulk encoding without XLA: a new shape costs one trace, not a compile, so the default
        # buckets can be finer (step 8: chatterbot responses pad to 17 tokens instead of 22 of 48).
        bulk_step = BULK_BUCKET_STEP if sequence_buckets is None and not xla else None
        self._bulk_buckets = {
            kind: (SequenceBuckets.for_length(self._full_length(kind), default_sequence_buckets(self._full_length(kind), bulk_step))
                   if bulk_step else self._buckets[kind])
            for kind in self.kinds
        }
        if engine is not None and sequence_buckets is None:
            # ONNX Runtime runs any shape without compiling: serve at the fine buckets too
            self._buckets = self._bulk_buckets
        self.engine = engine  # rejoinder.inference.engine.OnnxEngine, or None: the Keras model runs
        self._fns = {kind: engine.runner(kind) if engine is not None else _compile(self._forward(kind), xla)
                     for kind in self.kinds}

    # --- facts ----------------------------------------------------------------------------------

    @property
    def task(self) -> Task:
        return self.config.task

    @property
    def runtime(self) -> str:
        return "onnxruntime" if self.engine is not None else "tensorflow"

    @property
    def architecture(self) -> Architecture:
        return self.config.architecture

    @property
    def version(self) -> str:
        return str(self.manifest.get("version"))

    @property
    def embedding_dim(self) -> Optional[int]:
        return self.config.embedding_dim

    @property
    def kinds(self) -> tuple[str, ...]:
        """The input kinds this task serves (its task module says which)."""
        return self.config.definition.input_kinds

    def _require(self, kind: str) -> None:
        if kind not in self.kinds:
            served = ", ".join(self.kinds) or "nothing (pretraining models are not served)"
            raise UnsupportedTask(f"a {self.task} model does not take {kind!r} inputs; it serves {served}")

    # --- shapes ---------------------------------------------------------------------------------

    def _full_length(self, kind: str) -> int:
        seq = self.config.sequence
        if kind == "pair" and self.architecture == Architecture.bert:
            return seq.context_length + seq.response_length
        return seq.max_seq_length

    def sequence_buckets(self, kind: str) -> SequenceBuckets:
        self._require(kind)
        return self._buckets[kind]

    @property
    def shapes(self) -> dict[str, list[tuple[int, int]]]:
        """Every (batch size, sequence length) each served kind runs at; warm-up compiles them all."""
        return {kind: [(b, s) for b in self.batch_sizes for s in self._buckets[kind].lengths] for kind in self.kinds}

    def tracing_count(self) -> Optional[int]:
        """Traces (one per input shape) of the compiled functions so far; None off TensorFlow."""
        counts = [getattr(fn, "experimental_get_tracing_count", None) for fn in self._fns.values()]
        if not counts or any(c is None for c in counts):
            return None
        return sum(c() for c in counts)  # type: ignore[misc]

    # --- id level -------------------------------------------------------------------------------

    def tokenize(self, kind: str, *items: Any) -> dict[str, np.ndarray]:
        """Text → fixed-shape int32 arrays for `run`, exactly as training featurized them."""
        self._require(kind)
        f = self.featurizer
        if kind == "context":
            return {"context_ids": f.contexts(items[0])}
        if kind == "response":
            return {"response_ids": f.responses(items[0])}
        if kind == "session":
            return {"input_ids": f.sessions(items[0])}
        contexts, responses = items
        if len(contexts) != len(responses):
            raise ValueError(f"{len(contexts)} contexts but {len(responses)} responses: pairs need one of each")
        if self.architecture == Architecture.bert:
            return f.pairs(contexts, responses)
        return {"context_ids": f.contexts(contexts), "response_ids": f.responses(responses)}

    def lengths(self, kind: str, *items: Any) -> np.ndarray:
        """Each row's tokens as the model would see them (truncated, [CLS]/[SEP] included)."""
        return row_lengths(self.tokenize(kind, *items), self.config.special.pad)

    def bucket(self, n: int) -> int:
        for size in self.batch_sizes:
            if size >= n:
                return size
        return self.batch_sizes[-1]

    def pad(self, features: Mapping[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
        """Add padding rows (all [PAD], segment 0) up to `size` rows."""
        out = {}
        for name, array in features.items():
            n = array.shape[0]
            if n > size:
                raise ValueError(f"{n} rows do not fit a batch of {size}")
            fill = 0 if name == "segment_ids" else self.config.special.pad
            extra = np.full((size - n, *array.shape[1:]), fill, dtype=array.dtype)
            out[name] = np.concatenate([array, extra]) if size > n else array
        return out

    def shape(self, kind: str, features: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One batch cut to its longest row's sequence bucket and padded to its batch size: a
        shape warm-up compiled. Only padding is cut (rows are packed left-aligned)."""
        rows = next(iter(features.values())).shape[0]
        length = self._buckets[kind].bucket(int(row_lengths(features, self.config.special.pad).max(initial=1)))
        return self.pad(trim(features, length), self.bucket(rows))

    def _forward(self, kind: str) -> Callable:
        import keras

        model = self.model
        if kind == "context":
            return lambda f: model.encode_context(f["context_ids"])
        if kind == "response":
            return lambda f: model.encode_response(f["response_ids"])
        return lambda f: keras.ops.sigmoid(model(f, training=False))

    def run(self, kind: str, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """The model on one batch as given (pad it first to reuse compiled shapes)."""
        self._require(kind)
        out = self._fns[kind]({k: np.asarray(v, dtype=np.int32) for k, v in features.items()})
        if self.engine is None:
            import keras

            out = keras.ops.convert_to_numpy(out)
        return np.asarray(out, dtype=np.float32)

    def warmup(self) -> None:
        """Compile every served kind at every (batch size, sequence bucket), before the first request."""
        for kind in self.kinds:
            features = self._warmup_features(kind)
            for size, length in self.shapes[kind]:
                self.run(kind, self.pad(trim(features, length), size))

    def _warmup_features(self, kind: str) -> dict[str, np.ndarray]:
        if kind in ("context", "session"):
            return self.tokenize(kind, [["hello"]])
        if kind == "response":
            return self.tokenize(kind, ["hello"])
        return self.tokenize(kind, [["hello"]], ["hello"])

    # --- high level -----------------------------------------------------------------------------

    def _predict(self, kind: str, features: dict[str, np.ndarray]) -> np.ndarray:
        """Rows sorted by length into chunks of the largest batch size, each run at its bucket;
        results scattered back to the input order."""
        lengths = row_lengths(features, self.config.special.pad)
        out: Optional[np.ndarray] = None
        chunks = list(plan_chunks(lengths, self._bulk_buckets[kind], self.batch_sizes[-1]))
        # a bar where the work is long (an evaluation or index over a 100k+ pool), none for requests
        for chunk in tqdm(chunks, desc=f"encode {kind}s", unit="batch", leave=False, disable=len(chunks) < 50):
            part = {k: v[chunk.rows] for k, v in features.items()}
            result = self.run(kind, self.pad(trim(part, chunk.length), self.bucket(len(chunk.rows))))[: len(chunk.rows)]
            if out is None:
                out = np.zeros((lengths.shape[0], *result.shape[1:]), np.float32)
            out[chunk.rows] = result
        if out is None:
            width = (self.embedding_dim or 0,) if kind in ("context", "response") else ()
            return np.zeros((0, *width), np.float32)
        return out

    def encode_contexts(self, contexts: Sequence[Sequence[str]]) -> np.ndarray:
        self._require("context")
        return self._predict("context", self.tokenize("context", contexts))

    def encode_responses(self, responses: Sequence[str]) -> np.ndarray:
        self._require("response")
        return self._predict("response", self.tokenize("response", responses))

    def score_pairs(self, contexts: Sequence[Sequence[str]], responses: Sequence[str]) -> np.ndarray:
        self._require("pair")
        return self._predict("pair", self.tokenize("pair", contexts, responses))

    def score_sessions(self, sessions: Sequence[Sequence[str]]) -> np.ndarray:
        self._require("session")
        return self._predict("session", self.tokenize("session", sessions))


# --- building for a spec --------------------------------------------------------------------------


def build_for_spec(
    spec: Any,
    tokenizer: Tokenizer,
    *,
    precision: Optional[str] = None,
    base_dir: Optional[Union[str, Path]] = None,
    resolve_dialog_model: Optional[Callable[[str], Path]] = None,
) -> tuple[Any, list[Any]]:
    """The task model a spec describes, with `spec.model.init` applied; and the import reports."""
    from .build import build_model
    from .init import apply_init

    config = model_config_from_spec(spec, tokenizer)
    model = build_model(config, precision=precision)
    reports = apply_init(model, spec.model.init, base_dir=base_dir, resolve_dialog_model=resolve_dialog_model)
    return model, reports


def create_random_bundle(
    spec: Any,
    export_dir: Union[str, Path],
    *,
    texts: Optional[Iterable[str]] = None,
    seed: int = 0,
    version: Optional[str] = None,
    base_dir: Optional[Union[str, Path]] = None,
    held_out: Optional[Any] = None,
) -> Path:
    """An untrained bundle for `spec` (random weights; pretrained init is *not* applied).

    For tests of serving and indexing before training exists. A BPE tokenizer is trained on
    `texts` (default: the chatterbot corpus, whose first pairs are then the held-out text the
    fast path is checked on, unless `held_out` is given). The manifest says `"untrained": true`.
    """
    import keras

    from ..api.versioning import model_version
    from ..text.from_spec import tokenizer_for_spec
    from .build import build_model

    if texts is None:
        from ..datasets.chatterbot import load_corpus

        pairs, _ = load_corpus()
        texts = [t for p in pairs for t in (*p.context, p.response)]
        if held_out is None:
            from ..inference.export import HeldOut

            held_out = HeldOut([list(p.context) for p in pairs[:RANDOM_HELD_OUT]], [p.response for p in pairs[:RANDOM_HELD_OUT]])
    keras.utils.set_random_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = tokenizer_for_spec(spec, Path(tmp) / TOKENIZER_DIR, texts, base_dir=base_dir)
        model = build_model(model_config_from_spec(spec, tokenizer))
        return save_bundle(
            export_dir,
            model,
            tokenizer,
            spec,
            version=version or model_version(spec),
            metrics={},
            extra={"untrained": True},
            held_out=held_out,
        )
