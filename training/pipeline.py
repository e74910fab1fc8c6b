"""`rejoinder train`: every stage of one training run, in order, resumable at each.

    rank 0              spec.yaml → data/ → tokenizer/ → shards/     (skipped when already there)
    every rank          read own shards → build model (+ pretrained init) → restore/broadcast
                        → train (Horovod, mixed precision, XLA, checkpoints)
    rank 0              export/ bundle (+ ONNX, int8 gate) → evaluate (retrieval: the export as
                        its server runs it; + the untrained start and lexical baselines) → the
                        evaluation into the manifest → metrics.json (written last)

A version whose export/manifest.json and metrics.json exist is finished: running train again
prints its metrics and returns. A killed run restarted with the same command resumes from its
last checkpoint.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from rejoinder import atomic
from rejoinder.artifacts import ModelLayout, VersionLayout
from rejoinder.api.versioning import model_version
from rejoinder.feedback.segments import reactions_dir

from .data_prep import PreparedData, load_prepared, prepare_data
from .distributed import Distributed, init_distributed
from .progress import report_metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOptions:
    artifacts: Path  # storage root (spec.storage.path unless overridden)
    namespace: str
    use_horovod: bool = True
    stop_after: Optional[int] = None  # end this run after N steps (benchmarks, tests); no eval/export
    keep_checkpoints: int = 3


def version_layout(model: Any, options: TrainOptions) -> VersionLayout:
    return ModelLayout.for_model(options.artifacts, options.namespace, model.metadata.name).for_spec(model.spec)


def exported_dialog_model(artifacts: Path, namespace: str, name: str) -> Path:
    """The newest finished export of another DialogModel (init.dialogModel) in the namespace."""
    versions = ModelLayout.for_model(artifacts, namespace, name).root / "versions"
    done = [v for v in versions.glob("*") if ModelLayout.for_model(artifacts, namespace, name).version(v.name).trained]
    if not done:
        raise FileNotFoundError(
            f"init.dialogModel {name!r}: no trained version under {versions}; train that DialogModel first"
        )
    newest = max(done, key=lambda v: (v / "export" / "manifest.json").stat().st_mtime)
    return newest / "export"


# --- rank 0's preparation -----------------------------------------------------------------------


def _training_texts(prepared: PreparedData) -> list[str]:
    from rejoinder.text.features import pretraining_texts

    return pretraining_texts(prepared.train())


def prepare(model: Any, layout: VersionLayout, options: TrainOptions, world_size: int) -> dict[str, Any]:
    """Data, tokenizer and shards for this version; each step reuses what an earlier run left."""
    from rejoinder.text.features import Featurizer, SequenceConfig
    from rejoinder.text.from_spec import tokenizer_for_spec
    from rejoinder.text.tokenizer import CONFIG_FILE, load_tokenizer

    from . import shards

    spec = model.spec
    if not layout.spec_file.is_file():
        wire = model.to_wire()
        wire.pop("status", None)
        atomic.write_text(layout.spec_file, yaml.safe_dump(wire, sort_keys=False))
    prepared = prepare_data(spec, layout.data_dir,
                            lambda name: exported_dialog_model(options.artifacts, options.namespace, name),
                            lambda name: reactions_dir(options.artifacts, options.namespace, name))

    init = spec.model.init
    if (layout.tokenizer_dir / CONFIG_FILE).is_file():
        tokenizer = load_tokenizer(layout.tokenizer_dir)
    elif init is not None and init.dialog_model:
        # Starting from another DialogModel's encoder: its embedding rows are indexed by *its*
        # tokenizer, so that tokenizer is reused (a BPE retrained here would scramble the ids).
        source = exported_dialog_model(options.artifacts, options.namespace, init.dialog_model) / "tokenizer"
        log.info("using the tokenizer of DialogModel %s (%s)", init.dialog_model, source)
        with atomic.publish_dir(layout.tokenizer_dir) as tmp:
            load_tokenizer(source).save(tmp)
        tokenizer = load_tokenizer(layout.tokenizer_dir)
    else:
        log.info("building the %s tokenizer", spec.tokenizer.kind.value)
        with atomic.publish_dir(layout.tokenizer_dir) as tmp:
            tokenizer_for_spec(spec, tmp, _training_texts(prepared), base_dir=options.artifacts)
        tokenizer = load_tokenizer(layout.tokenizer_dir)

    existing = shards.read_manifest(layout.shards_dir)
    if existing is not None and existing.count % world_size == 0:
        log.info("reusing %d pre-tokenized shard(s) in %s", existing.count, layout.shards_dir)
        return {"fingerprint": existing.fingerprint}
    sequence = SequenceConfig.from_spec(spec)
    featurizer = Featurizer(tokenizer, sequence)
    started = time.perf_counter()
    features = featurizer.records(spec.task, spec.model.architecture, prepared.train())
    log.info("pre-tokenized %d training examples in %.1fs", len(next(iter(features.values()))), time.perf_counter() - started)
    written = shards.write_shards(layout.shards_dir, features, world_size,
                                  {"tokenizer": tokenizer.kind, "vocab": tokenizer.vocab_size, "sequence": sequence.to_json()})
    return {"fingerprint": written.fingerprint}


# --- the run ---------------------------------------------------------------------------------


def train(model: Any, options: TrainOptions) -> Optional[dict[str, Any]]:
    """Run (or resume, or find finished) the training of `model` (a DialogModel).

    Returns the metrics report on rank 0 (None on other ranks, or when stopped early).
    """
    dist = init_distributed(options.use_horovod)
    layout = version_layout(model, options)
    if dist.is_chief:
        log.info("training %s/%s version %s in %s (%d process(es)%s)", options.namespace, model.metadata.name,
                 layout.version, layout.root, dist.size, ", Horovod" if dist.horovod else ", no Horovod")
    if layout.trained:
        report = json.loads(layout.metrics_file.read_text(encoding="utf-8"))
        if dist.is_chief:
            log.info("version %s is already trained; nothing to do", layout.version)
            report_metrics(report.get("flat", {}))
        return report if dist.is_chief else None

    info = dist.run_on_chief("preparing data", lambda: prepare(model, layout, options, dist.size))
    return _train_prepared(model, layout, options, dist, info["fingerprint"])


def _train_prepared(model: Any, layout: VersionLayout, options: TrainOptions, dist: Distributed,
                    fingerprint: str) -> Optional[dict[str, Any]]:
    import keras

    from rejoinder.models.bundle import build_for_spec
    from rejoinder.models.precision import resolve_on_this_machine
    from rejoinder.tasks import task_module
    from rejoinder.text.tokenizer import load_tokenizer

    from . import shards
    from .batches import BatchPlan
    from .checkpoints import CheckpointStore
    from .loop import LoopConfig, run_loop
    from .pool_negatives import reply_bank
    from .precision import wrap_optimizer
    from .schedule import WarmupLinearDecay, peak_learning_rate

    # Keras names layers and variables from a process-wide counter, and Horovod matches
    # collectives by those names: rank 0 may have built other models while preparing the data
    # (data.negativesFrom, training.hardNegatives), so every rank starts counting afresh.
    keras.backend.clear_session()
    spec = model.spec
    t = spec.training
    tokenizer = load_tokenizer(layout.tokenizer_dir)
    shard_set = shards.read_manifest(layout.shards_dir)
    if shard_set is None:
        raise RuntimeError(f"{layout.shards_dir}: no {shards.MANIFEST}; data preparation did not finish")
    arrays = shards.load_rank(shard_set, dist.rank, dist.size)
    plan = BatchPlan.for_rank(shard_set.rank_rows(dist.rank, dist.size), t.batch_size_per_gpu, t.seed, dist.rank,
                              shard_set.min_rank_rows(dist.size))
    total_steps = t.steps or (t.epochs or 1) * plan.steps_per_epoch

    precision = resolve_on_this_machine(t.mixed_precision)
    keras.utils.set_random_seed(t.seed)  # rank 0's draw wins anyway (broadcast); this makes it reproducible
    task_model, reports = build_for_spec(
        spec, tokenizer, precision=precision.model_precision, base_dir=options.artifacts,
        resolve_dialog_model=lambda name: exported_dialog_model(options.artifacts, options.namespace, name),
    )
    task = task_module(spec.task).training_task(task_model, t.seed, tokenizer, spec.model.bert.max_seq_length,
                                                pool=reply_bank(spec, layout.data_dir, tokenizer),
                                                loss=t.contrastive_loss)

    peak = peak_learning_rate(t.learning_rate, dist.size, t.scale_learning_rate)
    schedule = WarmupLinearDecay(peak, min(t.warmup_steps, max(total_steps - 1, 0)), total_steps)
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=0.01, epsilon=1e-6, global_clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_names=["bias", "norm", "gamma", "beta"])
    optimizer = wrap_optimizer(optimizer, precision)
    if dist.is_chief:
        log.info("%s/%s: %d steps (%d per epoch), global batch %d = %d × %d, peak LR %.3g, precision %s, XLA %s",
                 spec.task, spec.model.architecture, total_steps, plan.steps_per_epoch,
                 t.batch_size_per_gpu * dist.size, t.batch_size_per_gpu, dist.size, peak,
                 precision.compute_dtype, "on" if t.xla else "off")

    store = CheckpointStore(layout.checkpoints_dir, keep=options.keep_checkpoints) if dist.is_chief else None
    config = LoopConfig(total_steps=total_steps, checkpoint_interval=t.checkpoint_interval, xla=t.xla,
                        loss_scaling=precision.loss_scaling, data_fingerprint=fingerprint)
    started = time.perf_counter()
    result = run_loop(task, optimizer, arrays, plan, dist, store, config, stop_after=options.stop_after)
    elapsed = time.perf_counter() - started
    if result.end_step < total_steps:
        log.info("stopped after step %d of %d as asked; run again to continue", result.end_step, total_steps)
        return None
    if not dist.is_chief:
        return None
    export(model, layout, task_model, tokenizer)  # first: retrieval is evaluated as its server will run it
    report = finish(model, layout, task, tokenizer, options)
    report["training"] = {
        "steps": total_steps, "resumedFrom": result.start_step, "processes": dist.size, "horovod": dist.horovod,
        "globalBatch": t.batch_size_per_gpu * dist.size, "precision": precision.compute_dtype, "lossScaling": precision.loss_scaling, "xla": t.xla,
        "examplesPerSec": round(result.examples_per_sec, 2), "seconds": round(elapsed, 1),
        "losses": [[step, round(loss, 5)] for step, loss in result.losses],
        "rankWeightDigests": result.rank_checksums,
    }
    return publish(model, layout, report)


# Under the artifacts root: embeddings of unchanged models (the untrained start), shared by versions.
EMBEDDING_CACHE = ".cache/embeddings"


def finish(model: Any, layout: VersionLayout, task: Any, tokenizer: Any, options: TrainOptions) -> dict[str, Any]:
    """Evaluate on the held-out split (rank 0)."""
    from rejoinder.tasks import EvaluationInputs, task_module
    from rejoinder.text.features import Featurizer, SequenceConfig

    spec = model.spec
    prepared = load_prepared(layout.data_dir)
    assert prepared is not None
    held = prepared.eval()
    test = prepared.test()
    log.info("evaluating on %d held-out %s%s", len(held), prepared.kind.value,
             f" and {len(test)} of the test split" if test is not None else "")
    return task_module(spec.task).evaluate(EvaluationInputs(
        training_task=task, featurizer=Featurizer(tokenizer, SequenceConfig.from_spec(spec)),
        architecture=spec.model.architecture, prepared=prepared, held=held, seed=spec.training.seed,
        start_model=lambda: start_model(model, tokenizer, options), test=test,
        cache_dir=Path(options.artifacts) / EMBEDDING_CACHE if options.artifacts else None,
        export_dir=layout.export_dir, spec=spec, version=layout.version,
    ))


def start_model(model: Any, tokenizer: Any, options: TrainOptions) -> Optional[Any]:
    """The model as training found it: the same config and tokenizer with `spec.model.init`
    applied, untrained (None without an init). Built afresh rather than kept from before
    training, so a resumed run scores the same start."""
    from rejoinder.models.bundle import build_for_spec

    if model.spec.model.init is None:
        return None
    start, _ = build_for_spec(
        model.spec, tokenizer, base_dir=options.artifacts,
        resolve_dialog_model=lambda name: exported_dialog_model(options.artifacts, options.namespace, name),
    )
    return start


def export(model: Any, layout: VersionLayout, task_model: Any, tokenizer: Any) -> None:
    """The bundle (with its fast path, checked on the held-out split), before evaluation."""
    from rejoinder.inference.export import held_out_of
    from rejoinder.models.bundle import save_bundle

    prepared = load_prepared(layout.data_dir)
    # The fast path (ONNX float32, int8 where its gate passes) is checked on the held-out split.
    held_out = held_out_of(prepared.eval()) if prepared is not None else None
    save_bundle(layout.export_dir, task_model, tokenizer, model.spec, version=layout.version,
                extra={"name": model.metadata.name}, held_out=held_out)


def publish(model: Any, layout: VersionLayout, report: dict[str, Any]) -> dict[str, Any]:
    """The evaluation into the bundle's manifest, then metrics.json last (its presence marks the
    version trained)."""
    from rejoinder.models.bundle import update_manifest

    from .evaluation import flat_metrics, format_table

    report["flat"] = flat_metrics(report)
    report["version"] = layout.version
    report["task"] = model.spec.task.value
    extra: dict[str, Any] = {"metrics": report["metrics"], "baselines": report.get("baselines", {})}
    if "respond" in report:  # a reranker: the blend its Respond uses (rejoinder/tasks/respond_blend.py)
        extra["respond"] = {"blendWeight": report["respond"]["blendWeight"]}
    update_manifest(layout.export_dir, extra)
    atomic.write_json(layout.metrics_file, report)
    print(format_table(report), flush=True)
    report_metrics(report["flat"])
    log.info("version %s trained: %s", layout.version, layout.root)
    return report
