"""One tokenizer interface over YouTokenToMe BPE (`bpe.py`) and BERT WordPiece (`wordpiece.py`).

A tokenizer maps text to ids *without* special tokens; `encoding.py` adds [CLS]/[SEP], pads and
truncates to fixed shapes. Every tokenizer has the five ids BERT needs (pad, unk, cls, sep, mask)
and saves itself to a directory holding its own files plus `tokenizer.json`, our description
of it (kind, lowercase, special ids, vocab size), which `load_tokenizer` reads back.
"""

from __future__ import annotations

import abc
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence, Union

CONFIG_FILE = "tokenizer.json"


@dataclass(frozen=True)
class SpecialIds:
    pad: int
    unk: int
    cls: int
    sep: int
    mask: int

    def all(self) -> frozenset[int]:
        return frozenset(asdict(self).values())


class Tokenizer(abc.ABC):
    kind: str

    @property
    @abc.abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, special ones included: the size of the embedding table."""

    @property
    @abc.abstractmethod
    def special(self) -> SpecialIds: ...

    @abc.abstractmethod
    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Texts → ids, no special tokens added."""

    @abc.abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Ids → text, special tokens dropped."""

    @abc.abstractmethod
    def tokens(self, text: str) -> list[str]:
        """Text → sub-word strings (for people and logs)."""

    @abc.abstractmethod
    def _save_files(self, directory: Path) -> dict[str, Any]:
        """Write the implementation's own files; return its extra config."""

    def save(self, directory: Union[str, Path]) -> Path:
        """Write the tokenizer files and `tokenizer.json` into `directory` (created if missing)."""
        from .. import atomic

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {
            "kind": self.kind,
            "vocab_size": self.vocab_size,
            "special_ids": asdict(self.special),
            **self._save_files(directory),
        }
        atomic.write_json(directory / CONFIG_FILE, config)
        return directory


def load_tokenizer(directory: Union[str, Path], threads: int = -1) -> Tokenizer:
    """Rebuild a tokenizer saved with `Tokenizer.save` (`threads`: YouTokenToMe encode threads,
    -1 = all cores; worker processes pass 1)."""
    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} not found: not a saved rejoinder tokenizer directory")
    config = json.loads(config_path.read_text())
    kind = config.get("kind")
    if kind == "bpe":
        from .bpe import BpeTokenizer

        tok: Tokenizer = BpeTokenizer.load(directory, config, threads=threads)
    elif kind == "wordpiece":
        from .wordpiece import WordPieceTokenizer

        tok = WordPieceTokenizer.load(directory, config)
    else:
        raise ValueError(f"{config_path}: unknown tokenizer kind {kind!r} (expected bpe or wordpiece)")
    if tok.vocab_size != config["vocab_size"]:
        raise ValueError(
            f"{directory}: tokenizer has {tok.vocab_size} ids but {CONFIG_FILE} says {config['vocab_size']}"
        )
    return tok
