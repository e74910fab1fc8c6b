"""The operator's name for the one condition setter (rejoinder/pipeline/conditions.py), kept so
modules importing `.conditions` keep working."""

from rejoinder.pipeline.conditions import MAX_MESSAGE, WARNING_REASONS, Conditions, Transition, rfc3339

__all__ = ["MAX_MESSAGE", "WARNING_REASONS", "Conditions", "Transition", "rfc3339"]
