"""Notebook widgets: :class:`TrainingPanel` configures, starts, stops and watches training."""

from .panel import TrainingPanel

__all__ = ["TrainingPanel"]
