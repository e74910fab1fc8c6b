"""One precision policy for training and serving (rejoinder.models.precision)."""

from __future__ import annotations

import pytest

from rejoinder.api.spec import Precision
from rejoinder.models.precision import PrecisionChoice, resolve_precision

TABLE = [
    # requested, GPU present → compute dtype, Keras policy, build name, loss scaling
    ("auto", True, "float16", "mixed_float16", "float16", True),
    ("auto", False, "float32", "float32", "none", False),
    ("none", True, "float32", "float32", "none", False),
    ("float32", False, "float32", "float32", "none", False),
    ("float16", False, "float16", "mixed_float16", "float16", True),
    ("bfloat16", True, "bfloat16", "mixed_bfloat16", "bfloat16", False),
]


@pytest.mark.parametrize("requested,gpu,dtype,policy,name,scaling", TABLE)
def test_resolution(requested, gpu, dtype, policy, name, scaling):
    as_enum = [Precision(requested)] if requested in {p.value for p in Precision} else []
    for asked in [requested, *as_enum]:  # a spec hands in the enum, a flag the string
        choice = resolve_precision(asked, gpu)
        assert (choice.compute_dtype, choice.policy, choice.model_precision, choice.loss_scaling) == (
            dtype, policy, name, scaling)


def test_unknown_precisions_are_refused():
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        resolve_precision("fp8", True)
    with pytest.raises(ValueError, match="compute dtype"):
        PrecisionChoice("none")
