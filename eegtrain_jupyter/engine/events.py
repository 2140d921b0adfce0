"""What the engine tells its listeners: the listener base class and the event payloads.

livelossplot's design: the loop emits, outputs listen. The service's run record, the files
on disk (:class:`~eegtrain_jupyter.engine.artifacts.ArtifactWriter`), the CLI's progress bar and a
test's recorder are all listeners; none of them is known to the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..models.info import BackboneInfo

__all__ = ["EpochResult", "Events", "StopRequested", "TrainingListener", "TrainingResult"]


@dataclass(frozen=True)
class EpochResult:
    """Metrics of one finished epoch (accuracies in %, ``duration`` in seconds of compute)."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    duration: float


@dataclass
class TrainingResult:
    """What a run produced; ``stopped`` is true when ``should_stop`` ended it early."""

    history: dict[str, list[float]]
    best_val_acc: float | None
    best_epoch: int | None
    epochs_completed: int
    stopped: bool
    device: str
    precision: str
    backbone: BackboneInfo
    files: dict[str, str] = field(default_factory=dict)
    """Outputs by kind (``checkpoint``, ``history``, ``curves``) when an output folder was given."""
    split: str | None = None
    """How the windows were split (``Split.describe()``)."""
    early_stopped: bool = False
    """The run ended before ``n_epochs`` because validation stopped improving."""
    test_report: dict[str, Any] | None = None
    """The test split's scores with the best checkpoint (:func:`~.evaluation.report`)."""
    precision_reason: str = ""
    """Why ``precision`` was used, e.g. ``bf16 (cpu: avx512_bf16)`` (see :mod:`~eegtrain_jupyter.engine.precision`)."""


class StopRequested(Exception):
    """Raised inside the loop when ``should_stop()`` turns true."""


class TrainingListener:
    """Receives engine events; override what you need (all default to no-ops)."""

    def on_phase(self, phase: str) -> None:
        """A phase began: ``loading data``, ``building model``, ``caching features``, ``training``."""

    def on_model(self, *, name: str, n_parameters: int, n_trainable: int) -> None:
        """The model is built: its registry name and parameter counts (all, and trainable)."""

    def on_setup(
        self,
        *,
        device: str,
        precision: str,
        backbone: BackboneInfo,
        n_train: int,
        n_val: int,
        precision_reason: str = "",
    ) -> None:
        """Data and model are ready; ``precision_reason`` says why ``precision`` was chosen."""

    def on_batch(
        self,
        *,
        epoch: int,
        batch: int,
        n_batches: int,
        phase: str,
        loss: float | None = None,
        acc: float | None = None,
    ) -> None:
        """A batch finished (``phase``: ``train``, ``val`` or ``caching features``; ``epoch`` 1-based,
        0 while caching). ``loss``/``acc`` are the running means over this epoch's training batches."""

    def on_split(self, split: str) -> None:
        """How the windows were split, in words (e.g. ``by subject: 14 train, 5 val, 5 test``)."""

    def on_test(self, report: dict[str, Any]) -> None:
        """The test split was scored once with the best checkpoint (:func:`~.evaluation.report`)."""

    def on_best(self, result: EpochResult, checkpoint: dict[str, Any]) -> None:
        """A new best validation accuracy; ``checkpoint`` holds everything to reload the model."""

    def on_epoch_end(self, result: EpochResult, history: dict[str, list[float]]) -> None:
        """An epoch finished (after ``on_best`` when it was the best so far)."""

    def on_end(self, result: TrainingResult) -> None:
        """The loop ended: completed or stopped (not called when it raised)."""


class Events:
    """Fan-out of each event to several listeners, in order."""

    def __init__(self, listeners: Iterable[TrainingListener]):
        self.listeners = list(listeners)

    def __getattr__(self, name: str) -> Callable[..., None]:
        def emit(*args: Any, **kwargs: Any) -> None:
            for listener in self.listeners:
                getattr(listener, name)(*args, **kwargs)

        return emit
