"""Fixtures of the training tests; the helpers live in training_support.py."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"
