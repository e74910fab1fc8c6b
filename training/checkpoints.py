"""Resumable training state, written atomically.

    checkpoints/
        step-00000200/     ckpt.index, ckpt.data-*, state.json  (one published directory)
        step-00000400/
        latest             {"step": 400, "dir": "step-00000400"}

Each checkpoint directory is built beside its final name and renamed into place
(`rejoinder.atomic.publish_dir`), then `latest` is replaced atomically. A writer killed at any
moment (SIGKILL included) leaves the previous checkpoint intact and `latest` pointing at a
complete directory. `state.json` carries what the tf.train.Checkpoint does not: the data
position and a fingerprint of the data it belongs to.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from rejoinder import atomic

log = logging.getLogger(__name__)

_DIR_RE = re.compile(r"^step-(\d{8,})$")
_PREFIX = "ckpt"


@dataclass(frozen=True)
class SavedCheckpoint:
    step: int
    directory: Path

    @property
    def prefix(self) -> str:
        return str(self.directory / _PREFIX)

    def state(self) -> dict[str, Any]:
        return json.loads((self.directory / "state.json").read_text(encoding="utf-8"))


class CheckpointStore:
    def __init__(self, directory: Path, keep: int = 3):
        if keep < 1:
            raise ValueError("keep at least one checkpoint")
        self.directory = Path(directory)
        self.keep = keep

    @property
    def latest_file(self) -> Path:
        return self.directory / "latest"

    def _complete(self) -> list[SavedCheckpoint]:
        if not self.directory.is_dir():
            return []
        found = []
        for child in self.directory.iterdir():
            match = _DIR_RE.match(child.name)
            if match and (child / "state.json").is_file() and (child / f"{_PREFIX}.index").is_file():
                found.append(SavedCheckpoint(int(match.group(1)), child))
        return sorted(found, key=lambda c: c.step)

    def latest(self) -> Optional[SavedCheckpoint]:
        """The checkpoint `latest` names; if that pointer is missing or stale, the newest
        complete directory (a crash between publishing a directory and updating the pointer)."""
        complete = self._complete()
        if self.latest_file.is_file():
            try:
                pointer = json.loads(self.latest_file.read_text(encoding="utf-8"))
                named = self.directory / pointer["dir"]
                newer = [c for c in complete if c.step > int(pointer["step"])]
                if not newer and (named / "state.json").is_file():
                    return SavedCheckpoint(int(pointer["step"]), named)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring unreadable %s: %s", self.latest_file, exc)
        return complete[-1] if complete else None

    def save(self, step: int, checkpoint: Any, state: dict[str, Any]) -> SavedCheckpoint:
        """Write `checkpoint` (a tf.train.Checkpoint) and `state` as step `step`."""
        name = f"step-{step:08d}"
        target = self.directory / name
        with atomic.publish_dir(target) as tmp:
            checkpoint.write(str(tmp / _PREFIX))
            atomic.write_json(tmp / "state.json", {**state, "step": step})
        atomic.write_json(self.latest_file, {"step": step, "dir": name})
        self._prune()
        return SavedCheckpoint(step, target)

    def _prune(self) -> None:
        for old in self._complete()[: -self.keep]:
            shutil.rmtree(old.directory, ignore_errors=True)
        # leftovers of writers killed mid-publish
        for child in self.directory.iterdir():
            if child.name.startswith(".step-") and child.is_dir():
                shutil.rmtree(child, ignore_errors=True)

    def restore(self, checkpoint: Any) -> Optional[dict[str, Any]]:
        """Restore the latest checkpoint into `checkpoint`; its state dict, or None if none."""
        saved = self.latest()
        if saved is None:
            return None
        checkpoint.read(saved.prefix).assert_existing_objects_matched()
        state = saved.state()
        log.info("resumed from %s (step %d)", saved.directory, saved.step)
        return state
