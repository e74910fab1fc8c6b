"""The distributed engine: Horovod when it is importable, one process otherwise.

Everything the loop needs from Horovod goes through `Distributed`, so the single-process
fallback is the same code path with trivial collectives. Keras 3 variables have no `.ref()`,
which Horovod's TensorFlow ops need, so the collectives are handed the underlying
`tf.Variable`s (`variable.value`), see ../shared/notes/horovod-tensorflow.md.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any, Callable, Sequence

log = logging.getLogger(__name__)


def tf_variables(variables: Sequence[Any]) -> list[Any]:
    """The tf.Variables behind Keras 3 variables (plain tf.Variables pass through)."""
    import keras

    return [v.value if isinstance(v, keras.Variable) else v for v in variables]


class Distributed:
    """rank/size and the collectives the training loop uses."""

    def __init__(self, hvd: Any | None):
        self._hvd = hvd
        self.horovod = hvd is not None
        self.rank = hvd.rank() if hvd else 0
        self.size = hvd.size() if hvd else 1
        self.local_rank = hvd.local_rank() if hvd else 0

    @property
    def is_chief(self) -> bool:
        """Only rank 0 writes files, prints progress and exports."""
        return self.rank == 0

    @property
    def multi_process(self) -> bool:
        return self.size > 1

    # --- variables and gradients -----------------------------------------------------------

    def broadcast_variables(self, variables: Sequence[Any]) -> None:
        """Make every rank start from rank 0's values (initial weights, restored state)."""
        if self.multi_process and variables:
            tf_vars = tf_variables(variables)
            self.check_same_variables(tf_vars)
            self._hvd.broadcast_variables(tf_vars, root_rank=0)

    def check_same_variables(self, tf_vars: Sequence[Any]) -> None:
        """Refuse to go on when the ranks built different variables. Horovod keys every
        collective by tensor name, so ranks whose names or shapes differ wait for each other
        forever (a silent hang, not an error)."""
        layout = [(v.name, tuple(v.shape), v.dtype.name) for v in tf_vars]
        digest = hashlib.sha256(repr(layout).encode()).hexdigest()
        digests = self.allgather_object((digest, len(layout), layout[:3]))
        if len({d for d, _, _ in digests}) > 1:
            described = "; ".join(f"rank {r}: {n} variables, first {first}" for r, (_, n, first) in enumerate(digests))
            raise RuntimeError(
                "the ranks built different model variables (names or shapes), so Horovod's collectives "
                f"would never match: {described}"
            )

    def gradient_tape(self, tape: Any) -> Any:
        """Wrap a GradientTape so `tape.gradient` returns gradients averaged over all ranks."""
        if not self.multi_process:
            return tape
        return self._hvd.DistributedGradientTape(tape, sparse_as_dense=True)

    def average_gradients(self, grads: Sequence[Any]) -> list[Any]:
        """Average already-computed gradients (used when they come out of an XLA cluster,
        where Horovod's ops cannot run)."""
        if not self.multi_process:
            return list(grads)
        return list(self._hvd.grouped_allreduce(list(grads), op=self._hvd.Average))

    # --- host-side collectives --------------------------------------------------------------

    def mean(self, value: float) -> float:
        """Average of a Python number over ranks (loss reporting)."""
        if not self.multi_process:
            return float(value)
        import tensorflow as tf

        return float(self._hvd.allreduce(tf.constant(float(value), tf.float64), op=self._hvd.Average))

    def broadcast_object(self, obj: Any) -> Any:
        """rank 0's Python object on every rank (small things: a status, an error message)."""
        if not self.multi_process:
            return obj
        return self._hvd.broadcast_object(obj, root_rank=0)

    def allgather_object(self, obj: Any) -> list[Any]:
        """Every rank's object, in rank order, on every rank."""
        if not self.multi_process:
            return [obj]
        return list(self._hvd.allgather_object(obj))

    def run_on_chief(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run `fn` on rank 0 while the others wait; its result (or its error) reaches every
        rank, so a failure on rank 0 stops all ranks with the same message instead of a hang."""
        result: Any = None
        error: str | None = None
        if self.is_chief:
            try:
                result = fn()
            except Exception as exc:  # forwarded to the other ranks, then re-raised here
                error = f"{what} failed on rank 0: {exc}"
                if not self.multi_process:
                    raise
                self.broadcast_object((None, error))
                raise
        if not self.multi_process:
            return result
        result, error = self.broadcast_object((result, error))
        if error is not None:
            raise RuntimeError(error)
        return result


def init_distributed(use_horovod: bool = True) -> Distributed:
    """Initialise Horovod if it is installed (and wanted), pin one GPU per local rank.

    Must run before TensorFlow touches the GPUs.
    """
    hvd = None
    if not use_horovod or os.environ.get("REJOINDER_NO_HOROVOD") == "1":
        log.info("Horovod disabled (--no-horovod or REJOINDER_NO_HOROVOD=1): training runs as a single process")
    else:
        try:
            import horovod.tensorflow as hvd_module

            hvd_module.init()
            hvd = hvd_module
        except ImportError as exc:
            log.warning(
                "Horovod is not installed (%s): training runs as a single process. "
                "Install it with training/install_horovod.sh for multi-process training.", exc,
            )
        except Exception as exc:  # built against another TF, launcher problems ...
            log.warning("Horovod could not start (%s): training runs as a single process.", exc)
    dist = Distributed(hvd)
    _pin_gpu(dist.local_rank)
    if dist.horovod and hvd.local_size() > 1:
        _share_cpu_threads(hvd.local_size())
    if dist.horovod:
        log.info("Horovod: rank %d of %d (local rank %d)", dist.rank, dist.size, dist.local_rank)
    return dist


def _share_cpu_threads(local_size: int) -> None:
    """Several CPU ranks on one machine: split the cores between them. TensorFlow's default
    (every rank uses every core) oversubscribes the machine and starves Horovod's
    communication thread, which then stalls every rank."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return
    threads = max(1, (os.cpu_count() or 1) // local_size)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(max(1, threads))
    log.info("%d ranks share this machine's CPUs: %d TensorFlow thread(s) each", local_size, threads)


def _pin_gpu(local_rank: int) -> None:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    tf.config.set_visible_devices(gpus[local_rank % len(gpus)], "GPU")
