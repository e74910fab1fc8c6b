"""No control-plane process outlives the test run, however it ends: at the end of a pytest session
the fixture stops them, and when the process that started them is SIGKILLed the kernel kills
them (PR_SET_PDEATHSIG); the next start removes the files such a run left. Each case starts a
control plane of its own in a child process (about a minute)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.controlplane.cluster import sweep_stale, wait_for
from tests.controlplane.fixtures import require_binaries

pytestmark = pytest.mark.realcluster
REPO = Path(__file__).resolve().parents[2]
START = 300.0  # bound on a control plane's start in a child process on a busy machine


def alive(pid: int) -> bool:
    """Running, as /proc says (a zombie has exited: it only waits for its parent to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONSAFEPATH": "1"}


def test_the_session_fixture_stops_everything_at_the_end_of_the_session(tmp_path: Path) -> None:
    require_binaries()
    state = tmp_path / "state.json"
    (tmp_path / "conftest.py").write_text(textwrap.dedent(f"""
        import sys
        sys.path.append({str(REPO)!r})
        from tests.controlplane.fixtures import *  # noqa
    """))
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(f"""
        import json
        from pathlib import Path

        def test_record(control_plane):
            assert control_plane.exited() == []
            Path({str(state)!r}).write_text(json.dumps(
                {{"pids": control_plane.pids(), "workdir": str(control_plane.workdir)}}))
    """))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                           str(tmp_path / "test_inner.py")], cwd=tmp_path, env=env(), capture_output=True, text=True,
                          timeout=START + 120)
    assert done.returncode == 0, done.stdout + done.stderr
    recorded = json.loads(state.read_text())
    assert len(recorded["pids"]) == 5
    assert [pid for pid in recorded["pids"] if alive(pid)] == []
    assert not Path(recorded["workdir"]).exists()


def test_a_sigkilled_starter_takes_every_component_with_it(tmp_path: Path) -> None:
    require_binaries()
    state = tmp_path / "state.json"
    starter = subprocess.Popen([sys.executable, str(REPO / "tests" / "controlplane" / "up.py"), "--state", str(state)],
                               env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for("the child's control plane", lambda: state.exists() or starter.poll() is not None, timeout=START)
        assert state.exists(), starter.stderr.read().decode() if starter.stderr else ""
        recorded = json.loads(state.read_text())
        assert len(recorded["pids"]) == 5 and all(alive(pid) for pid in recorded["pids"])
    finally:
        starter.send_signal(signal.SIGKILL)  # no handler, no finally, no atexit runs in it
        starter.wait()
    try:
        wait_for("components killed by the kernel", lambda: not any(alive(pid) for pid in recorded["pids"]), timeout=30)
    finally:  # if they were not, do not leave them running
        for pid in filter(alive, recorded["pids"]):
            os.kill(pid, signal.SIGKILL)
    workdir = Path(recorded["workdir"])
    assert workdir.exists()  # nothing could remove it ...
    sweep_stale(workdir.parent)
    assert not workdir.exists()  # ... until the next start sweeps it
