"""Without built binaries the real-cluster tests skip and name the build command, except in CI
(REJOINDER_REQUIRE_CONTROL_PLANE=1), where they fail. Runs without a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controlplane import binaries
from tests.controlplane.fixtures import REQUIRE, require_binaries


def test_missing_binaries_skip_with_the_build_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REJOINDER_CONTROL_PLANE_BIN", str(tmp_path))
    monkeypatch.delenv(REQUIRE, raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_binaries()
    assert binaries.BUILD_COMMAND in str(skipped.value) and "kube-apiserver" in str(skipped.value)


def test_missing_binaries_fail_when_the_control_plane_is_required(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REJOINDER_CONTROL_PLANE_BIN", str(tmp_path))
    monkeypatch.setenv(REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception) as failed:
        require_binaries()
    assert binaries.BUILD_COMMAND in str(failed.value)


def test_a_complete_bin_directory_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in binaries.COMPONENTS:
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("REJOINDER_CONTROL_PLANE_BIN", str(tmp_path))
    assert binaries.find() == (tmp_path, "")
