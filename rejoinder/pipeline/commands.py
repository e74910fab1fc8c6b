"""Each stage's command line: the CLI verbs an operator's pod runs and `rejoinder up` runs locally.

`cli` is how `rejoinder` is invoked: `rejoinder` in the images, this interpreter's
`python -m rejoinder` in local mode.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

IMAGE_CLI = ("rejoinder",)


def local_cli() -> list[str]:
    return [sys.executable, "-m", "rejoinder"]


def verb_argv(cli: Sequence[str], verb: str, spec_file: str) -> list[str]:
    return [*cli, verb, "-f", spec_file]


def train_argv(cli: Sequence[str], spec_file: str, *, processes: int, gloo: bool, hosts: Optional[str] = None,
               horovodrun: Optional[str] = "horovodrun") -> list[str]:
    """`horovodrun -np <P> [-H <hosts>] [--gloo] rejoinder train -f <spec>`; plain `train` without horovodrun."""
    train = verb_argv(cli, "train", spec_file)
    if horovodrun is None:
        return train
    return [horovodrun, "-np", str(processes), *(["-H", hosts] if hosts else []), *(["--gloo"] if gloo else []), *train]


def build_index_argv(cli: Sequence[str], spec_file: str) -> list[str]:
    return verb_argv(cli, "build-index", spec_file)


def serve_argv(cli: Sequence[str], spec_file: str, *, version: str, host: str, port: int, metrics_port: int,
               instance: Optional[str] = None) -> list[str]:
    """`instance` names this server process in its ModelInfo answer (local mode checks it is its own)."""
    argv = [*verb_argv(cli, "serve", spec_file), "--version", version,
            "--host", host, "--port", str(port), "--metrics-port", str(metrics_port)]
    return argv + (["--instance", instance] if instance else [])
