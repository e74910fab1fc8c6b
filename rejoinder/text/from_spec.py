"""The tokenizer a DialogModel spec asks for: a YouTokenToMe BPE trained on the corpus, or the
WordPiece vocab of `tokenizer.vocabFile` / of the pretrained init."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional, Union

from .tokenizer import Tokenizer, load_tokenizer


def tokenizer_for_spec(
    spec: Any,
    out_dir: Union[str, Path],
    texts: Iterable[str] = (),
    *,
    base_dir: Optional[Union[str, Path]] = None,
) -> Tokenizer:
    """Build the spec's tokenizer, save it into `out_dir` (with tokenizer.json) and return it.

    `texts` (the training corpus) is needed for BPE only. Relative vocab paths are taken from
    `base_dir` (the artifacts volume).
    """
    from ..api.spec import TokenizerKind
    from ..models.sources import init_vocab_file, resolve_path

    out_dir = Path(out_dir)
    t = spec.tokenizer
    kind = TokenizerKind(t.kind)  # ValueError for a kind that is neither
    if kind == TokenizerKind.bpe:
        from .bpe import MODEL_FILE, BpeTokenizer

        tok: Tokenizer = BpeTokenizer.train(texts, t.vocab_size, out_dir / MODEL_FILE, lowercase=t.lowercase)
    else:  # TokenizerKind.wordpiece
        from .wordpiece import WordPieceTokenizer

        vocab = resolve_path(t.vocab_file, base_dir) if t.vocab_file else init_vocab_file(spec.model.init, base_dir)
        if vocab is None:
            raise ValueError("wordpiece needs tokenizer.vocabFile or a pretrained init that ships vocab.txt")
        tok = WordPieceTokenizer(vocab, lowercase=t.lowercase)
    tok.save(out_dir)
    return load_tokenizer(out_dir)
