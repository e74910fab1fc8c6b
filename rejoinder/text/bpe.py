"""YouTokenToMe BPE, trained on the training corpus (the seed's tokenizer).

YouTokenToMe reserves PAD=0, UNK=1, BOS=2, EOS=3; BOS and EOS serve as BERT's [CLS] and [SEP].
It has no user-defined tokens, so [MASK] is one extra id after its vocabulary: the embedding
table has `yttm vocab + 1` rows, and a spec's `tokenizer.vocabSize` counts that extra id.
Lower-casing (and whitespace normalisation) is done here, before YouTokenToMe sees the text,
so training, serving and pre-tokenization agree.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import unicodedata
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, Union

from .tokenizer import SpecialIds, Tokenizer

log = logging.getLogger(__name__)

MODEL_FILE = "bpe.model"


@contextlib.contextmanager
def _quiet_native_output() -> Iterator[None]:
    """YouTokenToMe's C++ trainer prints its parameters and merges straight to fds 1 and 2; keep
    logs readable. (Its errors still arrive as Python exceptions.)"""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        for fd, old in zip((1, 2), saved):
            os.dup2(old, fd)
            os.close(old)


def normalise(text: str, lowercase: bool) -> str:
    text = unicodedata.normalize("NFKC", " ".join(text.split()))
    return text.lower() if lowercase else text


class BpeTokenizer(Tokenizer):
    kind = "bpe"

    def __init__(self, model_path: Union[str, Path], lowercase: bool = True, n_threads: int = -1):
        import youtokentome as yttm

        self._yttm = yttm
        self._model_path = Path(model_path)
        self._bpe = yttm.BPE(model=str(model_path), n_threads=n_threads)
        self.lowercase = lowercase
        base = self._bpe.vocab_size()
        self._special = SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=base)

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int,
        model_path: Union[str, Path],
        *,
        lowercase: bool = True,
        n_threads: int = -1,
    ) -> "BpeTokenizer":
        """Train on `texts` so that the full vocabulary ([MASK] included) has `vocab_size` ids.

        YouTokenToMe stops early on a small corpus (all words become single tokens); then the
        vocabulary is smaller than asked and the log says so.
        """
        import youtokentome as yttm

        if vocab_size < 100:
            raise ValueError(f"vocab_size must be at least 100, got {vocab_size}")
        model_path = Path(model_path)
        model_path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "corpus.txt"
            lines = 0
            with corpus.open("w", encoding="utf-8") as f:
                for text in texts:
                    line = normalise(text, lowercase)
                    if line:
                        f.write(line + "\n")
                        lines += 1
            if lines == 0:
                raise ValueError("cannot train a BPE tokenizer on an empty corpus")
            tmp_model = Path(tmp) / MODEL_FILE
            log.info("training YouTokenToMe BPE on %d lines, vocab %d", lines, vocab_size)
            with _quiet_native_output():
                yttm.BPE.train(
                    data=str(corpus), vocab_size=vocab_size - 1, model=str(tmp_model), n_threads=n_threads
                )
            shutil.move(str(tmp_model), model_path)
        tok = cls(model_path, lowercase=lowercase, n_threads=n_threads)
        if tok.vocab_size < vocab_size:
            log.warning("corpus supports only %d BPE ids (asked for %d)", tok.vocab_size, vocab_size)
        return tok

    @classmethod
    def load(cls, directory: Path, config: dict[str, Any], threads: int = -1) -> "BpeTokenizer":
        return cls(directory / MODEL_FILE, lowercase=bool(config.get("lowercase", True)), n_threads=threads)

    @property
    def vocab_size(self) -> int:
        return self._bpe.vocab_size() + 1  # + [MASK]

    @property
    def special(self) -> SpecialIds:
        return self._special

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        clean = [normalise(t, self.lowercase) for t in texts]
        return self._bpe.encode(clean, output_type=self._yttm.OutputType.ID)

    def decode(self, ids: Sequence[int]) -> str:
        keep = [int(i) for i in ids if int(i) not in self._special.all()]
        return self._bpe.decode([keep])[0]

    def tokens(self, text: str) -> list[str]:
        return self._bpe.encode([normalise(text, self.lowercase)], output_type=self._yttm.OutputType.SUBWORD)[0]

    def _save_files(self, directory: Path) -> dict[str, Any]:
        target = directory / MODEL_FILE
        if target.resolve() != self._model_path.resolve():
            shutil.copyfile(self._model_path, target)
        return {"lowercase": self.lowercase, "model_file": MODEL_FILE}
