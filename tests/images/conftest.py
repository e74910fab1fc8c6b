"""Image tests: the CPU images built by images/build.sh, run with podman.

Skipped with the reason only where no container engine exists; where one exists, a failing
build fails the tests. The helpers live in images_support.py; the small trained artifacts come
from the model-server and training tests' own fixtures and helpers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
for path in (str(_ROOT), str(_ROOT / "tests")):  # tests.* helpers and the `k8s_emulator` package
    if path not in sys.path:
        sys.path.insert(0, path)

import images_support  # noqa: E402
from tests.modelserver.conftest import artifacts  # noqa: E402,F401  (a tiny bundle and its index)


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> dict[str, str]:
    """component → image reference, built from this checkout."""
    if images_support.runtime() is None:
        pytest.skip("no container engine (podman) on this machine: .ci/system-deps.sh installs it")
    images_support.build_images(tmp_path_factory.mktemp("images") / "build.log")
    return {c: images_support.image_ref(c) for c in images_support.COMPONENTS}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The first image test also builds the images (images_support.BUILD_TIMEOUT bounds that):
    the project's 900 s per-test timeout would cut a first build on 2 cores short."""
    here = Path(__file__).parent
    for item in items:
        if Path(item.fspath).parent == here:
            item.add_marker(pytest.mark.timeout(images_support.BUILD_TIMEOUT + 900))
