"""ONNX Runtime sessions over a bundle's ONNX export: `runner(kind)` → features → float32 array.

The bundle's `ModelBundle.run(kind, features)` calls these instead of Keras when the fast
runtime is chosen, so nothing above it (batchifiers, build-index, evaluation) knows which ran.
TensorFlow is never imported here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np

log = logging.getLogger(__name__)

Runner = Callable[[Mapping[str, np.ndarray]], np.ndarray]


def session(path: Path, threads: Optional[int] = None) -> Any:
    """An ONNX Runtime CPU session with every graph optimisation (fusions, int8 MatMul kernels)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # No spin-waiting between ops: a spinning pool burns a pod's CPU quota and, on shared cores,
    # the time its neighbours need. Measured on 2 busy cores (load 4.7), int8 with 2 threads:
    # 108 contexts/s without spinning, 77 with.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about unused initializers are noise here
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxEngine:
    """One session per file (kinds sharing a file share its session)."""

    def __init__(self, root: Path, files: Mapping[str, str], threads: Optional[int] = None):
        self.files = dict(files)
        sessions: dict[str, Any] = {}
        self._sessions = {}
        for kind, rel in self.files.items():
            if rel not in sessions:
                path = Path(root) / rel
                if not path.is_file():
                    raise FileNotFoundError(f"{path}: the bundle's manifest names it but it is missing")
                sessions[rel] = session(path, threads)
            self._sessions[kind] = sessions[rel]

    def runner(self, kind: str) -> Runner:
        sess = self._sessions[kind]
        names = [i.name for i in sess.get_inputs()]

        def run(features: Mapping[str, np.ndarray]) -> np.ndarray:
            if len(names) == 1 and len(features) == 1:  # "ids": the one id array of this kind
                feeds = {names[0]: next(iter(features.values()))}
            else:
                feeds = {n: features[n] for n in names}
            return sess.run(None, {n: np.ascontiguousarray(v, dtype=np.int32) for n, v in feeds.items()})[0]

        return run
