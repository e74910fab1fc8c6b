"""The custom training loop: tf.GradientTape + Horovod, mixed precision, XLA, checkpoints.

    step = restore or 0; broadcast rank 0's weights and optimizer state to every rank
    for each step: batch (this rank's shard, deterministic order) → loss → gradients averaged
                   over ranks → optimizer step; rank 0 reports progress and, every N steps,
                   writes an atomic checkpoint (weights, optimizer, step, data position)

XLA: with one process the whole step (forward, backward, optimizer) is one XLA cluster. With
Horovod the forward/backward pass is compiled and the gradients leave the cluster to be
averaged (Horovod's collectives are not XLA ops in this build), then the optimizer runs.
Without XLA gradients are averaged by `hvd.DistributedGradientTape`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

import numpy as np

from .batches import BatchPlan, iterate
from .checkpoints import CheckpointStore
from .distributed import Distributed, tf_variables
from .progress import ProgressReporter

log = logging.getLogger(__name__)


@dataclass
class LoopConfig:
    total_steps: int
    checkpoint_interval: int
    xla: bool
    loss_scaling: bool
    data_fingerprint: str = ""
    report_every: Optional[int] = None  # progress lines; default every ~1 % of steps


@dataclass
class LoopResult:
    start_step: int
    end_step: int
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, rank-mean loss) at reports
    examples_per_sec: float = 0.0
    rank_checksums: list[str] = field(default_factory=list)  # weights digest per rank at the end

    @property
    def ranks_agree(self) -> bool:
        return len(set(self.rank_checksums)) <= 1


def _dense(grad: Any, var: Any) -> Any:
    import tensorflow as tf

    if grad is None:  # a variable this loss does not reach (e.g. an unused pooler)
        return tf.zeros_like(var)
    return tf.convert_to_tensor(grad)


def make_train_step(task: Any, optimizer: Any, dist: Distributed, xla: bool, loss_scaling: bool) -> Callable:
    """A tf.function running one optimizer step on a batch dict; returns this rank's loss."""
    import tensorflow as tf

    variables = task.trainable_variables
    sources = tf_variables(variables)  # Keras 3 → tf.Variable for the tape and Horovod

    def forward(batch):
        with tf.GradientTape() as tape:
            loss = tf.cast(task.loss(batch, training=True), tf.float32)
            scaled = optimizer.scale_loss(loss) if loss_scaling else loss
        return loss, scaled, tape

    if xla and dist.multi_process:

        @tf.function(jit_compile=True, reduce_retracing=True)
        def gradients(batch):
            loss, scaled, tape = forward(batch)
            grads = tape.gradient(scaled, sources)
            return loss, [_dense(g, v) for g, v in zip(grads, sources)]

        @tf.function(reduce_retracing=True)
        def step(batch):
            loss, grads = gradients(batch)
            optimizer.apply(dist.average_gradients(grads), variables)
            return loss

        return step

    @tf.function(jit_compile=xla, reduce_retracing=True)
    def step(batch):
        loss, scaled, tape = forward(batch)
        grads = dist.gradient_tape(tape).gradient(scaled, sources)
        optimizer.apply([_dense(g, v) for g, v in zip(grads, sources)], variables)
        return loss

    return step


def run_loop(
    task: Any,
    optimizer: Any,
    arrays: Mapping[str, np.ndarray],
    plan: BatchPlan,
    dist: Distributed,
    store: Optional[CheckpointStore],
    config: LoopConfig,
    *,
    stop_after: Optional[int] = None,
) -> LoopResult:
    """Train `task` from its last checkpoint (if any) to config.total_steps.

    `task` provides `model` (the trackable Keras model), `trainable_variables`,
    `loss(batch, training)` and `prepare_batch(batch, step, rank)` (host-side per-step work
    such as masked-LM corruption, seeded by the step so a resumed run sees the same batches).
    `stop_after` ends the loop early after that many steps (benchmarks).
    """
    import tensorflow as tf

    # Create every variable now (model by a forward pass, optimizer slots by build) so the
    # checkpoint restores into existing variables and rank 0 can broadcast all of them at once.
    first = task.prepare_batch(next(iterate(arrays, plan, 0, 1))[1], 0, dist.rank)
    task.build(_to_tensors(first))
    optimizer.build(task.trainable_variables)
    # `variables` lists every model variable explicitly: Keras 3 SeedGenerator states (dropout
    # RNG) are not tracked through `model=`, and without them a resumed run would draw other
    # dropout masks than the uninterrupted run.
    checkpoint = tf.train.Checkpoint(model=task.model, optimizer=optimizer,
                                     variables=tf_variables(task.model.variables))

    start_step = 0
    if dist.is_chief and store is not None:
        state = store.restore(checkpoint)
        if state is not None:
            if config.data_fingerprint and state.get("dataFingerprint") not in (None, config.data_fingerprint):
                raise RuntimeError(
                    f"checkpoint in {store.directory} was trained on different data "
                    f"({state.get('dataFingerprint')} != {config.data_fingerprint}); remove it to start over"
                )
            start_step = int(state["step"])
    start_step = int(dist.broadcast_object(start_step))
    # Rank 0's weights *and* optimizer state (moments, iteration count, loss scale) everywhere.
    dist.broadcast_variables(list(task.model.variables) + list(optimizer.variables))
    if start_step:
        log.info("resuming at step %d of %d", start_step, config.total_steps)

    train_step = make_train_step(task, optimizer, dist, config.xla, config.loss_scaling)
    end_step = config.total_steps if stop_after is None else min(config.total_steps, start_step + stop_after)
    global_batch = plan.batch_size * dist.size
    progress = ProgressReporter(config.total_steps, start_step, global_batch, dist.is_chief, report_every=config.report_every)
    result = LoopResult(start_step, start_step)
    report_every = progress.report_every

    def save(step: int) -> None:
        if store is not None and dist.is_chief:
            store.save(step, checkpoint, {"position": plan.position(step), "dataFingerprint": config.data_fingerprint,
                                          "totalSteps": config.total_steps})
            log.debug("checkpoint at step %d", step)

    try:
        for step, batch in iterate(arrays, plan, start_step, end_step):
            loss_t = train_step(_to_tensors(task.prepare_batch(batch, step, dist.rank)))
            done = step + 1
            at_checkpoint = done % config.checkpoint_interval == 0 and done < config.total_steps
            if done % report_every == 0 or done == end_step or at_checkpoint:
                loss = dist.mean(float(loss_t))  # every rank reaches this at the same steps
                if not math.isfinite(loss) and not config.loss_scaling:
                    raise FloatingPointError(f"loss became {loss} at step {done}; lower training.learningRate")
                result.losses.append((done, loss))
                if at_checkpoint:
                    save(done)
                progress.update(done, loss, force_line=at_checkpoint)
            result.end_step = done
        # Final state (end of training, or a run stopped early with stop_after) unless the
        # interval checkpoint just wrote it.
        if result.end_step > start_step and (result.end_step % config.checkpoint_interval or result.end_step == config.total_steps):
            save(result.end_step)
        # Data-parallel ranks must hold bit-identical weights; a mismatch means a broken
        # collective or a rank-dependent update, which would silently waste the run.
        result.rank_checksums = dist.allgather_object(weights_digest(task.model.variables))
        if not result.ranks_agree:
            log.error("ranks ended with different weights: %s", result.rank_checksums)
    finally:
        result.examples_per_sec = progress.examples_per_sec
        progress.close()
    return result


def weights_digest(variables: Any) -> str:
    """SHA-256 over every variable's bytes (order and dtype included)."""
    import hashlib

    h = hashlib.sha256()
    for v in variables:
        h.update(np.ascontiguousarray(np.asarray(v.numpy() if hasattr(v, "numpy") else v)).tobytes())
    return h.hexdigest()[:16]


def _to_tensors(batch: Mapping[str, np.ndarray]) -> dict[str, Any]:
    import tensorflow as tf

    return {name: tf.convert_to_tensor(value) for name, value in batch.items()}
