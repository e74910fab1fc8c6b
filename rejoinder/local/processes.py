"""Process-tree facts and actions on Linux (/proc and prctl); elsewhere they do what they can.

Stdlib only: the guard (guard.py) imports this and must start in milliseconds.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(option, value, 0, 0, 0) == 0


def die_with_parent(sig: int = signal.SIGHUP) -> bool:
    """Have the kernel send `sig` to this process when its parent dies (SIGKILL included)."""
    return _prctl(PR_SET_PDEATHSIG, int(sig))


def become_subreaper() -> bool:
    """Orphaned descendants are re-parented to this process (not to init), so it can find and stop them."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def _parents() -> dict[int, int]:
    """pid → parent pid of every live process (zombies left out: they are already dead)."""
    out: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return out
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid …
        if fields[0] != "Z":
            out[int(name)] = int(fields[1])
    return out


def descendants(root: int) -> list[int]:
    """Every live process below `root` (children first, then theirs)."""
    parents = _parents()
    below: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        below.setdefault(ppid, []).append(pid)
    out, todo = [], list(below.get(root, ()))
    while todo:
        pid = todo.pop(0)
        out.append(pid)
        todo.extend(below.get(pid, ()))
    return out


def reap() -> None:
    """Collect exited children of this process (orphans re-parented to a subreaper become ours)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_descendants(root: int, rounds: int = 100) -> None:
    """SIGKILL everything below `root` until nothing is left (a process forking meanwhile is caught
    in the next round; its orphans come to `root` when it is a subreaper)."""
    for _ in range(rounds):
        pids = descendants(root)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)
        if root == os.getpid():
            reap()
