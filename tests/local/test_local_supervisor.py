"""The guard and supervisor of `rejoinder up`'s children, on plain processes (no TensorFlow):
a stage's whole tree, grandchildren in sessions of their own included, dies with `up` however
`up` ends; a port in use is found before anything starts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rejoinder.local import supervisor
from tests.support.proc_tree import alive, descendants, still_alive

# A stage that starts a grandchild in a session of its own (as horovodrun's ranks may be), writes
# both pids down and then sleeps; SIGTERM is ignored so only the guard's SIGKILL ends it.
STAGE = textwrap.dedent("""
    import json, os, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    with open(sys.argv[1] + ".tmp", "w") as f:
        json.dump({"stage": os.getpid(), "grandchild": grandchild.pid}, f)
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(600)
""")

# Stands in for `rejoinder up`: starts the stage through the supervisor, writes the guard's pid,
# waits; on SIGHUP or SIGTERM it stops the stage the way up does.
UP = textwrap.dedent("""
    import json, os, sys, time
    from rejoinder.local import supervisor
    supervisor.install_signal_handlers()
    proc = supervisor.spawn([sys.executable, "-c", sys.argv[1], sys.argv[2]], grace=60)
    with open(sys.argv[3], "w") as f:
        json.dump({"guard": proc.pid}, f)
    try:
        proc.wait()
    except supervisor.Interrupted as stopping:
        supervisor.stop(proc, quick=stopping.quick)
""")


def wait_file(path: Path, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file():
            return json.loads(path.read_text())
        time.sleep(0.05)
    pytest.fail(f"{path} was not written in {timeout} s")


def start_up(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    up = subprocess.Popen([sys.executable, "-c", UP, STAGE, str(tmp_path / "stage.json"), str(tmp_path / "up.json")],
                          env=env, cwd=Path(__file__).resolve().parents[2])
    pids = wait_file(tmp_path / "stage.json")
    guard = wait_file(tmp_path / "up.json")["guard"]
    tree = [guard, pids["stage"], pids["grandchild"]]
    assert all(alive(p) for p in tree)
    return up, tree


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP])
def test_a_stage_and_its_grandchildren_die_with_up(sig: int, tmp_path: Path) -> None:
    up, tree = start_up(tmp_path)
    try:
        up.send_signal(sig)
        up.wait(10)
        assert still_alive(tree, 5.0) == [], f"still running after {signal.Signals(sig).name} of up: {tree}"
    finally:  # whatever this test started ends with it, even when the check fails
        for pid in [up.pid, *tree]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


# Stands in for `rejoinder up` around any command line (JSON in argv[1]).
UP_ARGV = textwrap.dedent("""
    import json, sys
    from rejoinder.local import supervisor
    proc = supervisor.spawn(json.loads(sys.argv[1]))
    proc.wait()
""")


@pytest.mark.horovod
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's")
def test_horovodrun_ranks_die_with_up(tmp_path: Path) -> None:
    """horovodrun's Gloo ranks (grandchildren of the guard) die when up is SIGKILLed."""
    from rejoinder.local.commands import horovodrun_path

    horovodrun = horovodrun_path()
    if horovodrun is None:
        pytest.skip("Horovod with TensorFlow support is not installed (training/install_horovod.sh)")
    rank = ("import os, time; p = os.path.join(%r, 'rank-' + os.environ['HOROVOD_RANK']); "
            "open(p + '.tmp', 'w').write(str(os.getpid())); os.rename(p + '.tmp', p); time.sleep(600)" % str(tmp_path))
    argv = [horovodrun, "-np", "2", "-H", "localhost:2", "--gloo", sys.executable, "-c", rank]
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    up = subprocess.Popen([sys.executable, "-c", UP_ARGV, json.dumps(argv)], env=env,
                          cwd=Path(__file__).resolve().parents[2])
    tree: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(tmp_path.glob("rank-?"))) < 2:
            time.sleep(0.1)
        ranks = [int(p.read_text()) for p in sorted(tmp_path.glob("rank-?"))]
        assert len(ranks) == 2, "horovodrun did not start its two ranks"
        tree = descendants(up.pid)
        assert set(ranks) <= set(tree)
        up.kill()
        up.wait(10)
        assert still_alive(tree, 5.0) == [], f"still running after SIGKILL of up: {[p for p in tree if alive(p)]}"
    finally:
        for pid in [up.pid, *tree]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_sigterm_lets_the_stage_drain_for_its_grace_then_kills_the_tree(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    script = ("import signal, sys, time\n"
              "signal.signal(signal.SIGTERM, lambda *a: (print('draining', flush=True), time.sleep(0.3), sys.exit(0)))\n"
              "print('up', flush=True); time.sleep(600)\n")
    proc = supervisor.spawn([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "up"
    assert supervisor.stop(proc) == 0  # the stage exited 0 after draining
    assert proc.stdout.read().strip() == "draining"


def test_the_guard_reports_the_stage_exit_status() -> None:
    proc = supervisor.spawn([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert proc.wait(30) == 3


def test_ports_in_use_are_found_before_anything_starts() -> None:
    with socket.socket() as listener:
        # gRPC servers listen with SO_REUSEPORT; the check must still see the port as taken
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        assert supervisor.ports_in_use("127.0.0.1", [taken, free, 0]) == [taken]
