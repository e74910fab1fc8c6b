"""BM25 retrieval baseline (the `bm25s` library): the stronger lexical ranker beside TF-IDF,
scored on the same split, context strings and candidate pool as the model."""

from __future__ import annotations

from typing import Sequence

import numpy as np


class Bm25Ranker:
    """Okapi BM25 (bm25s defaults k1=1.5, b=0.75) over the candidate responses as documents,
    lowercased words with English stopwords removed."""

    def __init__(self, candidates: Sequence[str]):
        import bm25s

        if not candidates:
            raise ValueError("BM25 baseline needs at least one candidate")
        self.size = len(candidates)
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25s.tokenize(list(candidates), stopwords="en", show_progress=False),
                             show_progress=False)
        self.vocab = self.retriever.vocab_dict

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """(queries × candidates) BM25 scores, float32; a query with no indexed word scores 0
        everywhere (and so ranks its answer last under pessimistic ties)."""
        import bm25s

        tokens = bm25s.tokenize(list(queries), stopwords="en", return_ids=False, show_progress=False)
        out = np.zeros((len(queries), self.size), dtype=np.float32)
        for row, words in enumerate(tokens):
            known = [w for w in words if w in self.vocab]
            if known:
                out[row] = self.retriever.get_scores(known)
        return out
