"""The encoders retrieval is evaluated with: the version as its server would run it, and its start.

Evaluation measures what is served: the exported bundle, loaded with the runtime and precision
the spec's server would choose on this machine (rejoinder.inference.choice: ONNX Runtime, int8
where the bundle passed its int8 gate and the CPU has VNNI). The untrained start goes through its
own float32 ONNX export (no int8: the start is scored at its best), so both sides of the gain
are encoded by the same engine, minutes faster than Keras on a pool of 100k+ replies.

Both are `ModelBundle`s: `encode_contexts(turns)` and `encode_responses(texts)`.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional
from contextlib import contextmanager

log = logging.getLogger(__name__)

EVAL_MAX_BATCH = 64  # rows per call: the bundle sorts by length and pads each call to its bucket


def served_bundle(export_dir: Path, spec: Any) -> tuple[Any, str]:
    """(the bundle loaded as spec.serving says on this machine, "runtime precision (why)")."""
    from rejoinder.cpus import allowed_cpus
    from rejoinder.modelserver.loading import choose_for_bundle, load_for_serving

    serving = spec.serving
    choice = choose_for_bundle(export_dir, serving.runtime.value, serving.mixed_precision.value)
    bundle = load_for_serving(export_dir, choice, xla=serving.xla, cpus=allowed_cpus(), sequence_buckets=None,
                              max_batch_size=EVAL_MAX_BATCH)
    return bundle, f"{choice.runtime} {choice.precision} ({choice.reason})"


@contextmanager
def start_bundle(start: Any, tokenizer: Any, spec: Any, version: str) -> Iterator[Optional[Any]]:
    """The untrained start exported to a temporary bundle and loaded at float32 (ONNX Runtime
    where the architecture has an ONNX export, else TensorFlow); None without a start."""
    from rejoinder.cpus import allowed_cpus
    from rejoinder.models.bundle import load_bundle, read_manifest, save_bundle

    if start is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="rejoinder-start-") as tmp:
        export = Path(tmp) / "export"
        # no held-out text: float32 only (the int8 gate is for what is served)
        save_bundle(export, start, tokenizer, spec, version=f"{version}-start", extra={"untrained": True})
        runtime = "onnxruntime" if (read_manifest(export).get("inference") or {}).get("float32") else "tensorflow"
        log.info("scoring the untrained start through %s float32", runtime)
        yield load_bundle(export, "float32", runtime=runtime, threads=allowed_cpus(), max_batch_size=EVAL_MAX_BATCH)
