"""TF-IDF retrieval baseline (scikit-learn), scored on the same split and candidate pool as the
model, so every report shows how far the trained encoder is above a bag-of-words ranker."""

from __future__ import annotations

from typing import Sequence

import numpy as np


class TfidfRanker:
    """Cosine similarity of TF-IDF vectors: word unigrams and bigrams with sublinear tf, the
    usual strong lexical baseline for response selection. The vectorizer L2-normalises, so a
    dot product is the cosine."""

    def __init__(self, fit_texts: Sequence[str], candidates: Sequence[str]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not candidates:
            raise ValueError("TF-IDF baseline needs at least one candidate")
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
        self.vectorizer.fit(list(fit_texts) + list(candidates))
        self.candidates = self.vectorizer.transform(list(candidates))

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """(queries × candidates) cosine similarities, dense float32."""
        q = self.vectorizer.transform(list(queries))
        return np.asarray((q @ self.candidates.T).todense(), dtype=np.float32)


def tfidf_scores(fit_texts: Sequence[str], queries: Sequence[str], candidates: Sequence[str]) -> np.ndarray:
    if not queries:
        raise ValueError("TF-IDF baseline needs at least one query")
    return TfidfRanker(fit_texts, candidates).scores(queries)
