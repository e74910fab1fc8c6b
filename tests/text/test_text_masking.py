from __future__ import annotations

import numpy as np

from rejoinder.text.masking import mask_tokens
from rejoinder.text.tokenizer import SpecialIds

SPECIAL = SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4)


def test_masking_picks_only_real_tokens_and_follows_80_10_10():
    rng = np.random.default_rng(0)
    ids = rng.integers(10, 100, size=(400, 40)).astype(np.int32)
    ids[:, 0], ids[:, 30], ids[:, 31:] = SPECIAL.cls, SPECIAL.sep, SPECIAL.pad
    out = mask_tokens(ids, SPECIAL, 100, np.random.default_rng(1), rate=0.15, max_predictions=6)

    chosen = out.masked_weights > 0
    assert np.all(chosen.sum(1) == round(29 * 0.15))  # 4 of the 29 real tokens per row
    positions = out.masked_positions[chosen]
    assert np.all((positions >= 1) & (positions <= 29))  # never [CLS], [SEP] or padding
    rows = np.nonzero(chosen)[0]
    np.testing.assert_array_equal(out.masked_ids[chosen], ids[rows, positions])
    became = out.input_ids[rows, positions]
    share_mask = np.mean(became == SPECIAL.mask)
    share_same = np.mean(became == ids[rows, positions])
    assert 0.75 < share_mask < 0.85 and 0.07 < share_same < 0.14
    untouched = np.ones_like(ids, dtype=bool)
    untouched[rows, positions] = False
    np.testing.assert_array_equal(out.input_ids[untouched], ids[untouched])
