"""Command lines of the local stages: the pipeline's commands (rejoinder/pipeline/commands.py) with
this interpreter as `rejoinder`, horovodrun when installed, and the local endpoint."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..pipeline import commands
from ..pipeline.stages import Stage


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
    instance: Optional[str] = None,
) -> list[str]:
    cli, spec = commands.local_cli(), str(spec_file)
    if stage == Stage.train:
        # Gloo needs no ssh or MPI on one machine.
        return commands.train_argv(cli, spec, processes=processes, gloo=True, hosts=f"localhost:{processes}",
                                   horovodrun=horovodrun)
    if stage == Stage.build_index:
        return commands.build_index_argv(cli, spec)
    return commands.serve_argv(cli, spec, version=version, host=endpoint.host, port=endpoint.port,
                               metrics_port=endpoint.metrics_port, instance=instance)
