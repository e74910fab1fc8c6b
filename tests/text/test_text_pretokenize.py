from __future__ import annotations

import numpy as np

from rejoinder.datasets import synthetic
from rejoinder.text.features import Featurizer, SequenceConfig
from rejoinder.text.pretokenize import featurize_parallel


def test_parallel_pretokenizing_equals_the_featurizer(tmp_path, bpe_tokenizer):
    directory = bpe_tokenizer.save(tmp_path / "tok")
    sequence = SequenceConfig(max_seq_length=32, context_length=20, response_length=12)
    records = list(synthetic.reactions(900, seed=5))
    want = Featurizer(bpe_tokenizer, sequence).records("reranking", "bert", records)
    got = featurize_parallel(directory, sequence, "reranking", "bert", records, workers=2, chunk_size=200, progress=False)
    assert set(got) == {"input_ids", "segment_ids", "label"}
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
