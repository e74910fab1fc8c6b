"""BERT WordPiece from a `vocab.txt`, through Hugging Face `tokenizers` (BertWordPieceTokenizer).

This is the tokenizer a pretrained BERT needs: its embedding rows are indexed by this vocab.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Sequence, Union

from .tokenizer import SpecialIds, Tokenizer

VOCAB_FILE = "vocab.txt"
_SPECIAL_TOKENS = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}


class WordPieceTokenizer(Tokenizer):
    kind = "wordpiece"

    def __init__(self, vocab_file: Union[str, Path], lowercase: bool = True):
        from tokenizers import BertWordPieceTokenizer

        self._vocab_file = Path(vocab_file)
        if not self._vocab_file.is_file():
            raise FileNotFoundError(f"WordPiece vocab {self._vocab_file} not found")
        self.lowercase = lowercase
        # Checked before the library sees the file: it would fail with a less helpful message.
        vocab = {line.rstrip("\n"): i for i, line in enumerate(self._vocab_file.open(encoding="utf-8"))}
        missing = [token for token in _SPECIAL_TOKENS.values() if token not in vocab]
        if missing:
            raise ValueError(f"{self._vocab_file}: special token(s) {' '.join(missing)} missing from the vocab")
        self._special = SpecialIds(**{name: vocab[token] for name, token in _SPECIAL_TOKENS.items()})
        self._tok = BertWordPieceTokenizer(str(self._vocab_file), lowercase=lowercase)

    @classmethod
    def load(cls, directory: Path, config: dict[str, Any]) -> "WordPieceTokenizer":
        return cls(directory / VOCAB_FILE, lowercase=bool(config.get("lowercase", True)))

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    @property
    def special(self) -> SpecialIds:
        return self._special

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=True)

    def tokens(self, text: str) -> list[str]:
        return self._tok.encode(text, add_special_tokens=False).tokens

    def _save_files(self, directory: Path) -> dict[str, Any]:
        target = directory / VOCAB_FILE
        if target.resolve() != self._vocab_file.resolve():
            shutil.copyfile(self._vocab_file, target)
        return {"lowercase": self.lowercase, "vocab_file": VOCAB_FILE}
