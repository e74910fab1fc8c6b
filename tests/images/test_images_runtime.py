"""What every image promises the pods that run it: its Python environment is consistent
(`pip check`), it runs as a non-root uid, nothing outside /tmp (the pods' emptyDir) is writable,
and its entrypoint is tini, which forwards the kubelet's SIGTERM to the process."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from images_support import COMPONENTS, REPO, UID, Container, engine_env, run_in, runtime

pytestmark = pytest.mark.images
# World-writable sticky directories every Debian root has; the pods' read-only root makes them
# unwritable, which the read-only case below checks.
STANDARD_STICKY = {"/tmp", "/var/tmp", "/run/lock", "/var/lock"}
FIND_WRITABLE = r"find / -xdev \( -path /proc -o -path /sys -o -path /dev \) -prune -o -writable -print 2>/dev/null; true"


@pytest.fixture(params=COMPONENTS)
def component(request) -> str:
    return request.param


@pytest.fixture
def image(component, images) -> str:
    return images[component]


def metadata_overrides() -> set[str]:
    """Packages whose declared requirements uv.lock overrides ([tool.uv.dependency-metadata])."""
    listed = subprocess.run([sys.executable, str(REPO / ".ci" / "lock.py"), "metadata-overrides"],
                            capture_output=True, text=True, check=True, timeout=60).stdout.split()
    return {line.lower() for line in listed}


def test_pip_check_passes_as_a_non_root_user(component, image):
    run = run_in(image, ["-c", "id -u; id -g; pip check; echo pip-check=$?"], entrypoint=["sh"])
    uid, gid, *report = run.stdout.strip().split("\n")
    assert int(uid) == UID and int(gid) == UID and int(uid) != 0
    # The only findings allowed: unmet requirements the lock overrides (the MiniLM weights
    # package's PyTorch stack, which rejoinder never imports), in the images that install it.
    expected = metadata_overrides() if component == "trainer" else set()
    if not expected:
        assert report == ["No broken requirements found.", "pip-check=0"], run.stdout
    else:
        problems = [line for line in report[:-1] if line.split(" ")[0].lower() not in expected]
        assert not problems, run.stdout


def test_nothing_outside_tmp_is_writable(image):
    as_built = run_in(image, ["-c", FIND_WRITABLE], entrypoint=["sh"], read_only=False)
    assert set(as_built.stdout.split()) <= STANDARD_STICKY, as_built.stdout
    as_deployed = run_in(image, ["-c", FIND_WRITABLE + "; touch /tmp/ok && echo wrote /tmp"], entrypoint=["sh"])
    lines = as_deployed.stdout.split("\n")
    assert [line for line in lines if line.startswith("/")] == ["/tmp"], as_deployed.stdout
    assert "wrote /tmp" in lines


def test_entrypoint_is_tini_and_forwards_sigterm(image, tmp_path):
    inspect = subprocess.run([runtime() or "podman", "image", "inspect", "--format", "{{json .Config.Entrypoint}}", image],
                             env=engine_env(), capture_output=True, text=True, timeout=60)
    entrypoint = json.loads(inspect.stdout)
    assert entrypoint[:2] == ["tini", "--"], entrypoint
    child = ("import signal, sys, time\n"
             "signal.signal(signal.SIGTERM, lambda *_: (print('child got SIGTERM', flush=True), sys.exit(0)))\n"
             "print('ready', flush=True)\n"
             "time.sleep(300)\n")
    container = Container.start(image, ["python3", "-c", child], tmp_path / "tini.log", entrypoint=["tini", "--"])
    try:
        assert container.wait_for_output("ready", timeout=120), container.logs()
        assert container.terminate(timeout=60) == 0, container.logs()
        assert "child got SIGTERM" in container.logs()
    finally:
        container.close()
