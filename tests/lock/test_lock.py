"""One lock, uv.lock, for the virtualenv the tests run in and for the images (issue 25).

The virtualenv running these tests must be exactly what the lock pins, so `make test` tests what
the images ship and a release on PyPI changes nothing until the lock is updated on purpose.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCK_TOOL = REPO / ".ci" / "lock.py"


def _lock_module():
    spec = importlib.util.spec_from_file_location("ci_lock", LOCK_TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules["ci_lock"] = module  # dataclasses resolve the module by name
    spec.loader.exec_module(module)
    return module


lock = _lock_module()


def test_the_test_virtualenv_is_exactly_the_lock() -> None:
    venv = Path(sys.prefix)
    assert (venv / "bin" / "uv").exists(), f"{venv} has no uv: it was not made by `make install`"
    run = subprocess.run([sys.executable, str(LOCK_TOOL), "check", str(venv)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONSAFEPATH": "1"}, timeout=120)
    assert run.returncode == 0, run.stderr


def test_a_difference_is_named_with_both_versions() -> None:
    locked = {"grpcio-tools": "1.85.4", "numpy": "2.4.6", "horovod": "0.28.1"}
    installed = {"grpcio-tools": "1.85.5", "numpy": "2.4.6", "torch": "2.14.1", "rejoinder": "0.1.0"}
    found = [str(d) for d in lock.compare(locked, installed, ignore=("rejoinder",))]
    assert found == ["grpcio-tools: locked 1.85.4, installed 1.85.5",
                     "horovod: locked 0.28.1, not installed",
                     "torch: installed 2.14.1, not in the lock"]


def test_export_lines_parse_to_exact_pins_and_names_normalize() -> None:
    exported = ("absl-py==2.5.1 ; python_full_version < '3.12' and sys_platform == 'linux' \\\n"
                "    --hash=sha256:00\n"
                "Typing_Extensions==4.16.0\n")
    assert lock.parse_pins(exported) == {"absl-py": "2.5.1", "typing-extensions": "4.16.0"}
    with pytest.raises(ValueError, match="not an exact pin"):
        lock.parse_pins("numpy>=2\n")


def test_every_locked_file_has_a_hash_and_build_tools_are_locked() -> None:
    data = tomllib.loads((REPO / "uv.lock").read_text())
    for package in data["package"]:
        for file in package.get("wheels", []) + ([package["sdist"]] if "sdist" in package else []):
            assert file["hash"].startswith("sha256:"), package["name"]
    groups = lock.locked_package(data, "rejoinder")["dev-dependencies"]
    assert {d["name"] for d in groups["build"]} >= {"pip", "setuptools", "wheel", "cython"}
    assert {d["name"] for d in groups["tools"]} == {"uv"}


def test_a_hashed_pin_accepts_only_the_locked_files() -> None:
    data = tomllib.loads((REPO / "uv.lock").read_text())
    pin = lock.hashed_pin(data, "horovod")
    version = lock.locked_package(data, "horovod")["version"]
    assert pin.startswith(f"horovod=={version} --hash=sha256:")
    with pytest.raises(KeyError):
        lock.hashed_pin(data, "no-such-package")


def test_images_pin_their_closure_with_hashes_and_one_faiss() -> None:
    venv = Path(sys.prefix)
    cpu = lock.parse_pins(lock.image_requirements(venv, "model-server", "cpu"))
    cuda = lock.parse_pins(lock.image_requirements(venv, "model-server", "cuda"))
    assert "faiss-cpu" in cpu and "faiss-gpu-cu12" not in cpu
    assert "faiss-gpu-cu12" in cuda and "faiss-cpu" not in cuda, "exactly one `faiss` module"
    installed = lock.installed_versions(Path(sys.executable))
    for name, version in cpu.items():  # the CPU image ships what the tests run with
        assert installed.get(name) == version, name
    hashed = lock.image_requirements(venv, "operator", "cpu")
    assert "--hash=sha256:" in hashed and "tensorflow" not in hashed
    assert "youtokentome" not in cpu, "built on the host, installed from requirements/<component>-local.txt"
    assert lock.image_local(venv, "trainer") == [f"youtokentome=={installed['youtokentome']}",
                                                 f"horovod=={installed['horovod']}"]
    assert lock.image_local(venv, "operator") == []
    with pytest.raises(ValueError, match="unknown component"):
        lock.image_selection("web", "cpu")
