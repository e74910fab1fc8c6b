"""Learning rate: linear warm-up to the peak, then linear decay to zero (the BERT recipe).

The peak is spec.training.learningRate times the number of Horovod processes when
scaleLearningRate is set: with gradients averaged over N ranks the global batch is N times
larger, and the linear scaling rule keeps the per-example step size.
"""

from __future__ import annotations

import keras


def peak_learning_rate(base: float, world_size: int, scale: bool) -> float:
    return base * world_size if scale else base


@keras.saving.register_keras_serializable(package="rejoinder")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = max(int(total_steps), 1)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = keras.ops.cast(max(self.warmup_steps, 1), "float32")
        total = float(self.total_steps)
        warmup = self.peak * (step + 1.0) / warm
        decay_span = max(total - self.warmup_steps, 1.0)
        decay = self.peak * keras.ops.maximum(0.0, (total - step) / decay_span)
        if self.warmup_steps <= 0:
            return decay
        return keras.ops.where(step < self.warmup_steps, warmup, decay)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}
