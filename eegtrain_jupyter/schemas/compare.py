"""``GET /training/compare``: runs side by side."""

from __future__ import annotations

from typing import Any

from .base import Shape
from .run import RunRecord

__all__ = ["AlignedHistory", "Comparison"]


class AlignedHistory(Shape):
    """One run's per-epoch metrics padded with ``null`` to the longest run compared (epoch ``i+1``
    at index ``i``); accuracies in %, on the training and validation splits."""

    train_losses: list[float | None]
    val_losses: list[float | None]
    train_accs: list[float | None]
    val_accs: list[float | None]


class Comparison(Shape):
    """``GET /training/compare?runs=a,b``: runs side by side, in the order asked."""

    run_ids: list[str]
    epochs: list[int]
    """1 .. the most epochs any compared run finished (the x axis of every history)."""
    runs: list[RunRecord]
    histories: dict[str, AlignedHistory]
    """By run id."""
    config_diff: dict[str, dict[str, Any]]
    """Config fields whose values differ: field -> run id -> value."""
    config_common: dict[str, Any]
    """Config fields every compared run shares, with their value."""
