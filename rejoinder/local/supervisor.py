"""How `rejoinder up` starts its stages and stops them: every child dies with `up`.

Each stage runs under the guard (guard.py) in a session of its own, so the terminal's Ctrl-C
reaches `up` alone and `up` decides how its children stop. `up` itself is a subreaper and, when
it ends by any signal it can catch, stops its guards and then kills whatever is still below it;
when it is killed outright, each guard notices (parent-death signal) and cleans up below itself.
Before anything starts, the ports the server will listen on must be free.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
from typing import Any, Iterable, Sequence

from .guard import QUICK_S
from .processes import kill_descendants

DEFAULT_GRACE_S = 30.0


class Interrupted(KeyboardInterrupt):
    """`up` was told to stop by a signal: SIGINT (Ctrl-C) and SIGTERM drain, SIGHUP is quick."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def quick(self) -> bool:
        return self.signum == signal.SIGHUP


def _raise(signum: int, _frame: Any) -> None:
    raise Interrupted(signum)


def install_signal_handlers() -> None:
    """SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed) stop `up`, children first.

    SIGINT gets its handler explicitly: a process started in the background by a shell without
    job control (CI runners, `cmd &` in a script, nohup) inherits SIGINT *ignored*, and Python
    then installs no KeyboardInterrupt handler, so `kill -INT` left such an `up` serving forever."""
    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _raise)


def spawn(argv: Sequence[str], grace: float = DEFAULT_GRACE_S, **popen: Any) -> subprocess.Popen:
    """Start `argv` under a guard tied to this process (Popen keyword arguments pass through)."""
    guarded = [sys.executable, "-m", "rejoinder.local.guard", "--parent", str(os.getpid()), "--grace", str(grace),
               "--", *argv]
    return subprocess.Popen(guarded, start_new_session=True, **popen)


def stop(proc: subprocess.Popen, quick: bool = False, grace: float = DEFAULT_GRACE_S) -> int:
    """Stop a guarded stage: SIGTERM (it drains for up to `grace`) or, `quick`, SIGHUP; SIGKILL to
    the guard's group and a sweep below it if the guard itself does not finish in time."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGHUP if quick else signal.SIGTERM)
            proc.wait((QUICK_S if quick else grace) + 5.0)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    return proc.returncode


def stopped_by_sigterm(code: int) -> bool:
    """A guarded server that ended on SIGTERM, as its guard or Popen reports it."""
    return code in (0, -signal.SIGTERM, 128 + signal.SIGTERM)


def sweep() -> None:
    """Kill whatever still runs below this process (orphans re-parented to it as a subreaper)."""
    kill_descendants(os.getpid())


def ports_in_use(host: str, ports: Iterable[int]) -> list[int]:
    """The ports of `ports` (0 = any, skipped) that something on this machine already listens on at `host`."""
    busy = []
    for port in ports:
        if not port:
            continue
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            # SO_REUSEADDR: a port left in TIME_WAIT is free; a listener (even one with SO_REUSEPORT) is not.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    busy.append(port)
                else:
                    raise
    return busy
