"""`rejoinder up -f FILE` as a child process of a benchmark: started in its own process group
(SIGTERM if the benchmark dies), watched through the served model's status.json until a phase,
stopped with SIGINT as Ctrl-C stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Optional, Sequence

ROOT = Path(__file__).resolve().parents[2]


def die_with_parent() -> None:
    """In the child: SIGTERM when the benchmark dies, however it ends (Linux prctl)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def stop(proc: subprocess.Popen, sig: int) -> None:
    """`sig` to the child's process group, then SIGKILL if it has not exited within 2 minutes."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class UpProcess:
    """`rejoinder up -f spec_file` whose served model's status lives under `model_root`."""

    def __init__(self, spec_file: Path, model_root: Path, log: IO[str], port: int = 0, metrics_port: int = 0,
                 ready_timeout: float = 600.0):
        self.model_root = model_root
        argv = [str(Path(sys.executable).parent / "rejoinder"), "up", "-f", str(spec_file), "--port", str(port),
                "--metrics-port", str(metrics_port), "--ready-timeout", str(ready_timeout)]
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
                                     env={**os.environ, "PYTHONSAFEPATH": "1"}, preexec_fn=die_with_parent)

    def wait_phase(self, phases: Sequence[str] = ("Serving", "Failed"), timeout: float = 3600.0) -> tuple[Optional[str], float]:
        """(the first of `phases` the model reached, or its last phase when `up` exited or the
        timeout passed; seconds since the start)."""
        from rejoinder.local import state

        phase = None
        while time.perf_counter() - self.started < timeout and self.proc.poll() is None:
            status = state.load(self.model_root)
            phase = status.phase.value if status else None
            if phase in phases:
                break
            time.sleep(2.0)
        return phase, time.perf_counter() - self.started

    def stop(self) -> Optional[int]:
        stop(self.proc, signal.SIGINT)
        return self.proc.returncode
