"""Atomic writes leave the old content or the new, never a mix, and are readable by other users."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rejoinder.atomic import publish_dir, write_json, write_text


def test_write_replaces_whole_file_with_normal_permissions(tmp_path: Path) -> None:
    target = tmp_path / "a" / "m.json"
    write_json(target, {"x": 1})
    write_text(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()
    assert [p.name for p in target.parent.iterdir()] == ["m.json"]  # no temporary left behind


def test_failed_directory_publish_keeps_the_old_directory(tmp_path: Path) -> None:
    target = tmp_path / "index"
    with publish_dir(target) as tmp:
        (tmp / "f").write_text("v1")
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~_umask()
    with pytest.raises(RuntimeError):
        with publish_dir(target) as tmp:
            (tmp / "f").write_text("half")
            raise RuntimeError("killed mid-write")
    assert (target / "f").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]
    with publish_dir(target) as tmp:
        (tmp / "f").write_text("v2")
    assert (target / "f").read_text() == "v2"


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
