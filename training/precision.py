"""Training's side of the precision policy (`rejoinder.models.precision`, shared with serving):
the loss-scaling optimizer float16 needs."""

from __future__ import annotations

from rejoinder.models.precision import PrecisionChoice


def wrap_optimizer(optimizer, choice: PrecisionChoice):
    """Dynamic loss scaling for float16: scale the loss up, unscale gradients, skip steps with
    non-finite gradients and lower the scale."""
    if not choice.loss_scaling:
        return optimizer
    import keras

    return keras.optimizers.LossScaleOptimizer(optimizer)
