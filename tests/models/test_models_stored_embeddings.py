"""The pool encodings evaluation stores are reused by build-index only when they are the same
texts, bundle version, runtime and precision."""

from __future__ import annotations

import numpy as np

from rejoinder.models import stored_embeddings as se


def test_stored_pool_is_returned_only_for_the_same_texts_and_engine(tmp_path) -> None:
    texts = ["hi", "hello there", "bye"]
    pool = np.arange(6, dtype=np.float32).reshape(3, 2)
    contexts = [["a"], ["b", "c"]]
    se.save(tmp_path, version="v-1", runtime="onnxruntime", precision="int8", texts=texts, pool=pool,
            contexts=contexts, context_vectors=np.ones((2, 2), np.float32))
    same = dict(version="v-1", runtime="onnxruntime", precision="int8")
    assert np.array_equal(se.load_pool(tmp_path, texts=texts, **same), pool)
    assert se.load_contexts(tmp_path, **same).shape == (2, 2)
    assert se.load_pool(tmp_path, texts=texts[:2], **same) is None, "other texts"
    assert se.load_pool(tmp_path, texts=list(reversed(texts)), **same) is None, "same texts, other order"
    assert se.load_pool(tmp_path, texts=texts, **{**same, "precision": "float32"}) is None, "other precision"
    assert se.load_pool(tmp_path, texts=texts, **{**same, "version": "v-2"}) is None, "other bundle"
    assert se.load_contexts(tmp_path, **{**same, "runtime": "tensorflow"}) is None
    assert se.load_pool(tmp_path / "none", texts=texts, **same) is None
