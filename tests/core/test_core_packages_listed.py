"""Every Python package of the source tree is in pyproject.toml's explicit package list (find()
cannot see through the package-dir mapping): a package left out is missing from the wheel the
images install, while the editable install of the tests still finds it. rejoinder.datasets was
left out, and the trainer image failed with ModuleNotFoundError on a real kubelet."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_directory_is_listed() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    found = set()
    for name, directory in setuptools["package-dir"].items():
        for init in (ROOT / directory).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / directory)
            if "__pycache__" not in relative.parts:
                found.add(".".join([name, *relative.parts]))
    assert found - listed == set(), "add them to [tool.setuptools] packages"
