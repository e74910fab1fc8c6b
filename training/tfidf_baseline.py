"""TF-IDF retrieval baseline (scikit-learn), scored on the same split and candidate pool as the
model, so every report shows how far the trained encoder is above a bag-of-words ranker."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def tfidf_scores(
    fit_texts: Sequence[str], queries: Sequence[str], candidates: Sequence[str]
) -> np.ndarray:
    """Cosine similarity (queries × candidates) of TF-IDF vectors fitted on `fit_texts`.

    Word unigrams and bigrams with sublinear tf: the usual strong lexical baseline for response
    selection. Vectors are L2-normalised by the vectorizer, so a dot product is the cosine.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not queries or not candidates:
        raise ValueError("TF-IDF baseline needs at least one query and one candidate")
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, lowercase=True)
    vectorizer.fit(list(fit_texts) + list(candidates))
    q = vectorizer.transform(list(queries))
    c = vectorizer.transform(list(candidates))
    return np.asarray((q @ c.T).todense(), dtype=np.float32)
