"""A runtime for the service's life-cycle tests: no worker process, no model, no data.

:class:`FakeRuntime` stands where :func:`~eegtrain_jupyter.runtime.supervisor.supervise` does
(``TrainingManager(runtime=FakeRuntime())``, see :class:`~eegtrain_jupyter.runtime.outcome.Runtime`):
in the service's trainer thread it calls the run's listeners with the engine's events for
``config.n_epochs`` epochs (made-up metrics), writes the run's history file as the engine's
writer would, honours a stop before each epoch, and ends as it was told: completed, stopped,
or failed with an error after a given epoch.

A test can hold it before an epoch (``hold=True``, then :meth:`FakeRuntime.allow`) to look at the
service while a run is in flight, without timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from eegtrain_jupyter import files
from eegtrain_jupyter.engine import artifacts
from eegtrain_jupyter.engine.events import EpochResult, Events, TrainingListener, TrainingResult
from eegtrain_jupyter.models.info import BackboneInfo
from eegtrain_jupyter.runtime.launcher import WorkerSession
from eegtrain_jupyter.runtime.outcome import Outcome
from eegtrain_jupyter.runtime.protocol import WorkerSpec
from eegtrain_jupyter.schemas import empty_history

SPLIT = "by window (stratified): 8 / 2 / 0 windows (train / val / test)"


class FakeRuntime:
    """Executes a run by emitting a few engine events, then ends as asked.

    Parameters
    ----------
    fail_after : int, optional
        Fail the run after this many finished epochs (0: before the first), with ``error``.
    error : str
        The failed run's error, as the worker would report it.
    hold : bool
        Wait before each epoch until :meth:`allow` lets it run (or a stop is asked for).
    """

    def __init__(
        self, *, fail_after: int | None = None, error: str = "RuntimeError: injected", hold: bool = False
    ):
        self.fail_after, self.error, self.hold = fail_after, error, hold
        self._allowed = threading.Semaphore(0)
        self.waiting = threading.Event()
        """Set while the run waits before an epoch (``hold``)."""
        self.specs: list[WorkerSpec] = []
        """Every spec it was given, in order."""

    def allow(self, epochs: int = 1) -> None:
        """Let ``epochs`` more epochs run (with ``hold``)."""
        self.waiting.clear()
        for _ in range(epochs):
            self._allowed.release()

    def _wait_for_turn(self, stop_event: threading.Event) -> bool:
        """False when a stop was asked for before this epoch could run."""
        while not stop_event.is_set():
            if not self.hold or self._allowed.acquire(timeout=0.01):
                return not stop_event.is_set()
            self.waiting.set()
        return False

    def __call__(
        self,
        spec: WorkerSpec,
        listeners: Sequence[TrainingListener],
        stop_event: threading.Event,
        *,
        session: WorkerSession | None = None,
        grace: tuple[float, float] = (10.0, 5.0),
        on_start: Callable[[int | None], None] | None = None,
    ) -> Outcome:
        self.specs.append(spec)
        config, events = spec.config, Events(listeners)
        events.on_split(SPLIT)
        events.on_phase("building model")
        events.on_model(name=config.model, n_parameters=1000, n_trainable=10)
        events.on_setup(device="cpu", precision="fp32", backbone=BackboneInfo("random"), n_train=8, n_val=2)
        events.on_phase("training")
        history: dict[str, list[float]] = empty_history()
        result = TrainingResult(
            history, None, None, 0, False, "cpu", "fp32", BackboneInfo("random"), split=SPLIT
        )
        for epoch in range(1, config.n_epochs + 1):
            if self.fail_after is not None and epoch > self.fail_after:
                return Outcome.failed(self.error, spec.run_dir)
            if not self._wait_for_turn(stop_event):
                result.stopped = True
                break
            events.on_batch(epoch=epoch, batch=1, n_batches=1, phase="train", loss=1.0 / epoch, acc=50.0)
            res = EpochResult(epoch, 1.0 / epoch, 50.0 + epoch, 1.5 / epoch, 40.0 + epoch, 0.01)
            for key, value in zip(
                history, (res.train_loss, res.val_loss, res.train_acc, res.val_acc), strict=True
            ):
                history[key].append(value)
            result.epochs_completed, result.best_val_acc, result.best_epoch = epoch, res.val_acc, epoch
            files.write_json(
                spec.run_dir / artifacts.HISTORY_NAME, {**history, "config": config.model_dump(mode="json")}
            )
            result.files = {"history": str(spec.run_dir / artifacts.HISTORY_NAME)}
            events.on_epoch_end(res, {k: list(v) for k, v in history.items()})
        if self.fail_after is not None and self.fail_after >= config.n_epochs and not result.stopped:
            return Outcome.failed(self.error, spec.run_dir)
        events.on_end(result)
        return Outcome.ended(result, spec.run_dir)
