"""`python -m rejoinder.local.guard --parent PID --grace S -- ARGV…`: run one stage so that it, and
everything it starts, dies with `rejoinder up` however `up` ends.

The guard asks the kernel for SIGHUP when its parent dies (SIGKILL included), becomes a subreaper
(grandchildren that leave their process group, as horovodrun's ranks may, are re-parented here)
and runs ARGV in a process group of its own. On SIGTERM or SIGINT it passes SIGTERM on and waits
up to `--grace` seconds (a model server drains); on SIGHUP (the parent or the terminal went away)
it waits at most QUICK_S. Then, and whenever ARGV exits, it SIGKILLs whatever is left below it.
Its exit status is ARGV's.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from typing import Optional, Sequence

from .processes import become_subreaper, die_with_parent, kill_descendants

QUICK_S = 2.0


def run(argv: Sequence[str], parent: int, grace: float) -> int:
    die_with_parent(signal.SIGHUP)
    if os.getppid() != parent:  # the parent died before the kernel could be told to say so
        return 128 + signal.SIGHUP
    become_subreaper()
    asked: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: asked.append(signum))
    child = subprocess.Popen(list(argv), start_new_session=True)
    deadline: Optional[float] = None
    while child.poll() is None:
        if asked and deadline is None:
            _signal_group(child.pid, signal.SIGTERM)
            deadline = time.monotonic() + (QUICK_S if signal.SIGHUP in asked else grace)
        elif signal.SIGHUP in asked and deadline is not None:
            deadline = min(deadline, time.monotonic() + QUICK_S)
        if deadline is not None and time.monotonic() > deadline:
            _signal_group(child.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    code = child.wait()
    kill_descendants(os.getpid())
    return code if code >= 0 else 128 - code


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main(args: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rejoinder.local.guard", description=__doc__)
    parser.add_argument("--parent", type=int, required=True, help="pid of the process this stage dies with")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds from SIGTERM to SIGKILL")
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    ns = parser.parse_args(args)
    argv = ns.argv[1:] if ns.argv[:1] == ["--"] else ns.argv
    if not argv:
        parser.error("no command to run after --")
    return run(argv, ns.parent, ns.grace)


if __name__ == "__main__":
    sys.exit(main())
