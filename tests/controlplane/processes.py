"""Component processes that cannot outlive the test run: each one is killed by the kernel when
the process that started it dies (PR_SET_PDEATHSIG, so even a SIGKILLed pytest leaves nothing
behind), runs in its own process group (stopped as a group), and logs to a file."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from rejoinder.local.processes import die_with_parent


def _child_setup() -> None:
    # SIGKILL, not the SIGHUP default: etcd and the Kubernetes binaries would shut down gracefully,
    # and a parent that is gone cannot wait for them.
    die_with_parent(signal.SIGKILL)


@dataclass
class Component:
    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, env: dict[str, str] | None = None) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                            env=env, preexec_fn=_child_setup, start_new_session=True)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the group, then SIGKILL it if it has not exited within `grace` seconds."""
        if self.process is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # a grandchild (none expected) would keep the group alive after the leader exits
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])
