"""Command lines of the local stages: the same CLI verbs the operator's pods run."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .stages import Stage


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    metrics_port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def horovodrun_path() -> Optional[str]:
    """horovodrun next to this interpreter (a virtualenv) or on PATH, when Horovod is importable."""
    # Look for Horovod's compiled TensorFlow ops without importing TensorFlow here (seconds, and noise).
    spec = importlib.util.find_spec("horovod")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    if not any((package / "tensorflow").glob("mpi_lib*.so")):
        return None
    beside = Path(sys.executable).parent / "horovodrun"
    return str(beside) if beside.exists() else shutil.which("horovodrun")


def stage_argv(
    stage: Stage,
    spec_file: Path,
    *,
    version: str,
    endpoint: Endpoint,
    horovodrun: Optional[str],
    processes: int = 2,
) -> list[str]:
    cli = [sys.executable, "-m", "rejoinder"]
    if stage == Stage.train:
        train = [*cli, "train", "-f", str(spec_file)]
        if horovodrun is None:
            return train
        # Gloo needs no ssh or MPI on one machine.
        return [horovodrun, "-np", str(processes), "-H", f"localhost:{processes}", "--gloo", *train]
    if stage == Stage.build_index:
        return [*cli, "build-index", "-f", str(spec_file)]
    return [
        *cli, "serve", "-f", str(spec_file), "--version", version,
        "--host", endpoint.host, "--port", str(endpoint.port), "--metrics-port", str(endpoint.metrics_port),
    ]
