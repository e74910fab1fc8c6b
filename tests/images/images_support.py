"""Run the real images (images/build.sh) with podman for the image tests.

A module of its own (not conftest.py) with a name no other test folder uses, so test modules
import it as `images_support`. Every container gets a unique name and is removed (`podman rm -f`)
however the test ends; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = ("operator", "trainer", "model-server")
UID = 10001  # the images' USER and the chart's runAsUser (tests/helm checks they agree)
# podman settings for containers inside a container (crun cannot set rlimits/cgroups there).
CONTAINERS_CONF = REPO / "images" / "containers.conf"
BUILD_TIMEOUT = 3600  # a first build on 2 cores with a cold wheelhouse; cached builds take seconds


def runtime() -> Optional[str]:
    """The container engine, or None where this machine has none."""
    return shutil.which("podman")


def engine_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    env.setdefault("BUILDAH_ISOLATION", "chroot")  # RUN steps without nested user namespaces
    env["BUILDER"] = "podman"
    return env


def version() -> str:
    """The images' tag: images/build.sh's TAG where it is set (a worktree testing its own build
    beside others' on one machine), else the project version, as build.sh defaults it."""
    from rejoinder import __version__

    return os.environ.get("TAG") or __version__


def image_ref(component: str, registry: str = "ghcr.io/rejoinder") -> str:
    """The name images/build.sh gives a CPU image, the name the chart and operator use."""
    return f"{registry}/rejoinder-{component}:{version()}"


def build_images(log_path: Path) -> None:
    """images/build.sh for the CPU images (layer-cached: only what changed is rebuilt), so the tests
    always run the current tree. The base defaults to the registry-free Debian one.
    REJOINDER_IMAGES_PREBUILT=1 (.ci/run, right after `make images` on the same tree) skips the
    rebuild, whose cache checks alone hash each 2 GB virtualenv again (minutes on 2 cores)."""
    if os.environ.get("REJOINDER_IMAGES_PREBUILT") == "1":
        missing = [c for c in COMPONENTS if subprocess.run([runtime() or "podman", "image", "exists", image_ref(c)],
                                                           env=engine_env(), timeout=60).returncode != 0]
        assert not missing, f"REJOINDER_IMAGES_PREBUILT=1 but no image for {missing}: run `make images`"
        return
    base = os.environ.get("REJOINDER_IMAGE_BASE", "debian")
    with open(log_path, "wb") as log:
        done = subprocess.run(["bash", str(REPO / "images" / "build.sh"), "--base", base, *COMPONENTS],
                              cwd=REPO, env=engine_env(), stdout=log, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT)
    if done.returncode != 0:
        tail = log_path.read_text(errors="replace")[-6000:]
        raise AssertionError(f"images/build.sh failed ({done.returncode}):\n{tail}")


def _run_args(name: str, image: str, argv: Sequence[str], *, user: Optional[str], read_only: bool,
              volumes: Sequence[tuple[Path, str, str]], entrypoint: Optional[Sequence[str]],
              env: Optional[dict[str, str]]) -> list[str]:
    args = [runtime() or "podman", "run", "--rm", "--name", name, "--pull=never", "--network=host"]
    oci = os.environ.get("REJOINDER_OCI_RUNTIME", "runc" if shutil.which("runc") else "")
    if oci:
        args.append(f"--runtime={oci}")
    if user:
        args += ["--user", user]
    if read_only:
        # As the pods run: read-only root, /tmp an emptyDir; nothing else podman would add.
        args += ["--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,mode=1777"]
    for host, target, mode in volumes:
        args += ["-v", f"{host}:{target}:{mode}"]
    if entrypoint is not None:  # JSON: an exec-form entrypoint, e.g. ["tini", "--"]
        args += ["--entrypoint", json.dumps(list(entrypoint))]
    for key, value in (env or {}).items():
        args += ["-e", f"{key}={value}"]
    return [*args, image, *argv]


def _remove(name: str) -> None:
    subprocess.run([runtime() or "podman", "rm", "-f", "-t", "0", name], env=engine_env(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def unique(prefix: str) -> str:
    return f"rejoinder-test-{prefix}-{uuid.uuid4().hex[:8]}"


def run_in(image: str, argv: Sequence[str], *, user: Optional[str] = None, read_only: bool = True,
           volumes: Sequence[tuple[Path, str, str]] = (), entrypoint: Optional[Sequence[str]] = None,
           env: Optional[dict[str, str]] = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run one command in IMAGE to completion (as the image's user unless `user`)."""
    name = unique("run")
    try:
        return subprocess.run(_run_args(name, image, argv, user=user, read_only=read_only, volumes=volumes,
                                        entrypoint=entrypoint, env=env),
                              env=engine_env(), capture_output=True, text=True, timeout=timeout)
    finally:
        _remove(name)


@dataclass
class Container:
    """A long-running container: `podman run` in the foreground, so its exit code is the main
    process's and a signal sent to it is proxied into the container (to tini, PID 1)."""

    name: str
    proc: subprocess.Popen
    log_path: Path

    @classmethod
    def start(cls, image: str, argv: Sequence[str], log_path: Path, *, user: Optional[str] = None,
              read_only: bool = True, volumes: Sequence[tuple[Path, str, str]] = (),
              entrypoint: Optional[Sequence[str]] = None, env: Optional[dict[str, str]] = None) -> "Container":
        name = unique("svc")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(_run_args(name, image, argv, user=user, read_only=read_only, volumes=volumes,
                                              entrypoint=entrypoint, env=env),
                                    env=engine_env(), stdout=log, stderr=subprocess.STDOUT)
        return cls(name, proc, log_path)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def wait_for_output(self, text: str, timeout: float) -> bool:
        """True once `text` is in the output; False if the container exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.logs():
                return True
            if not self.running():
                return text in self.logs()
            time.sleep(0.1)
        return False

    def running(self) -> bool:
        return self.proc.poll() is None

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM as the kubelet sends it; the exit code once the container has stopped."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.running():
            self.proc.kill()
            self.proc.wait(30)
        _remove(self.name)
