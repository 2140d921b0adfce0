"""The one trainer: :class:`~.manager.TrainingManager` (runs, their records, publishing),
searches, run comparison and serving of recorded runs. Light: no torch, no MNE."""

from typing import Any

__all__ = ["TrainingManager"]


def __getattr__(name: str) -> Any:  # the manager imports the rest of the service: on first use
    if name == "TrainingManager":
        from .manager import TrainingManager

        return TrainingManager
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
