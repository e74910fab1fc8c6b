"""Fixtures of the dataset tests (the training tests' `storage`, shared)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"
