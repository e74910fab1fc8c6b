"""Where reaction segments live and how they are read back.

Each server process appends to its own segment files, named after its instance (the pod name in
a cluster), so replicas sharing the artifacts volume never write the same file:

    <storage>/<namespace>/<model>/reactions/<instance>.<opened, UTC>.<sequence>.jsonl

A writer never reopens a segment after a restart; it starts a new one. So only the *last line of
a segment* can be torn (the process died mid-write, after the last acknowledged fsync): reading
skips it with a warning. Any other line that does not parse is corruption and an error naming
the file and line.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Optional

from ..artifacts import ModelLayout
from .records import ReactionRecord, RecordError

log = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".jsonl"
_STAMP = "%Y%m%dT%H%M%SZ"
_INSTANCE_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_NAME = re.compile(r"^(?P<instance>[A-Za-z0-9_-]+)\.(?P<opened>\d{8}T\d{6}Z)\.(?P<seq>\d{6})\.jsonl$")


def reactions_dir(storage: Path | str, namespace: str, model: str) -> Path:
    return ModelLayout.for_model(storage, namespace, model).root / "reactions"


def safe_instance(instance: str) -> str:
    """An instance name usable in a file name (pod names already are; local tokens may not be)."""
    return _INSTANCE_UNSAFE.sub("-", instance).strip("-") or "server"


def segment_name(instance: str, opened: datetime, sequence: int) -> str:
    return f"{safe_instance(instance)}.{opened.astimezone(timezone.utc).strftime(_STAMP)}.{sequence:06d}{SEGMENT_SUFFIX}"


@dataclass(frozen=True)
class SegmentName:
    instance: str
    opened: datetime
    sequence: int

    @classmethod
    def parse(cls, name: str) -> "SegmentName | None":
        match = _NAME.match(name)
        if match is None:
            return None
        opened = datetime.strptime(match["opened"], _STAMP).replace(tzinfo=timezone.utc)
        return cls(match["instance"], opened, int(match["seq"]))


def segments(directory: Path) -> list[Path]:
    """The segment files of a reactions directory, oldest first per instance; other files ignored."""
    if not directory.is_dir():
        return []
    named = [(SegmentName.parse(p.name), p) for p in directory.iterdir() if p.is_file()]
    ordered = sorted(((n, p) for n, p in named if n is not None),
                     key=lambda item: (item[0].opened, item[0].instance, item[0].sequence))
    return [p for _, p in ordered]


OnTorn = Callable[[Path, int], None]  # (segment, bytes skipped): for readers that count them


def read_segment(path: Path, on_torn: Optional[OnTorn] = None) -> Iterator[ReactionRecord]:
    """The records of one segment; a torn last line is skipped with a warning (and told to on_torn)."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    torn = lines.pop()  # b"" when the file ends with a newline, as every complete write does
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield ReactionRecord.from_line(line)
        except RecordError as exc:
            raise RecordError(f"{path}:{number}: {exc}") from exc
    if torn.strip():
        log.warning("%s: skipped a torn last line (%d bytes, no newline): the writer stopped mid-write, "
                    "after its last acknowledged flush", path, len(torn))
        if on_torn is not None:
            on_torn(path, len(torn))


def read_reactions(directory: Path, on_torn: Optional[OnTorn] = None) -> Iterator[ReactionRecord]:
    """Every record under a reactions directory, segment by segment."""
    for path in segments(directory):
        yield from read_segment(path, on_torn)
