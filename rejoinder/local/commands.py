"""Command lines of the local stages: the same CLI verbs the operator's pods run."""

from __future__ import annotations

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
    try:
        import horovod.tensorflow  # noqa: F401  (the TF ops library must load, not just the package)
    except Exception:
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
