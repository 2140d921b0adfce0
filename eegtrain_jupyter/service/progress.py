"""A run's progress: the listener that feeds engine events into its record, and the status
snapshot built from that record (both under the service's lock)."""

from __future__ import annotations

import threading
import time
from typing import Any

from ..engine.events import EpochResult, TrainingListener
from ..models.info import BackboneInfo
from ..runtime.outcome import files_on_disk
from ..schemas import Backbone, BatchProgress, Metrics, Status, TestReport, TrainingState
from .runs import Run

__all__ = ["RECORD_SAVE_INTERVAL", "RunProgress", "build_status", "format_duration"]


def format_duration(seconds: float | None) -> str | None:
    """Seconds in a compact form: ``45.3s``, ``2.1m``, ``1.5h``."""
    if seconds is None:
        return None
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


RECORD_SAVE_INTERVAL = 1.0
"""Least seconds between two writes of a search trial's ``run.json`` at epoch ends (its record in
memory, which status reads, is current after every epoch; the run's end always writes it). A
plain run's record is written after every epoch."""


class RunProgress(TrainingListener):
    """Feeds engine events into the run record under the manager's lock."""

    def __init__(self, lock: threading.RLock, run: Run, save_interval: float = 0.0):
        self.lock, self.run, self.save_interval = lock, run, save_interval
        self._saved_at = -float("inf")

    def on_phase(self, phase: str) -> None:
        with self.lock:
            self.run.phase, self.run.batch = phase, None
            self.run.t_phase = time.monotonic()
            if phase == "training" and self.run.state is TrainingState.PREPARING:
                self.run.outcome.state = TrainingState.TRAINING

    def on_model(self, *, name: str, n_parameters: int, n_trainable: int) -> None:
        with self.lock:
            outcome = self.run.outcome
            outcome.model, outcome.n_parameters, outcome.n_trainable = name, n_parameters, n_trainable

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
        with self.lock:
            outcome = self.run.outcome
            outcome.device, outcome.precision = device, precision
            outcome.precision_reason = precision_reason or None
            outcome.backbone = Backbone.model_validate(backbone.to_dict())
            self.run.save()

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
        with self.lock:
            before = self.run.batch or {}
            if phase != "train":  # validation keeps the epoch's running training metrics
                loss, acc = (
                    (before.get("train_loss"), before.get("train_acc"))
                    if before.get("epoch") == epoch
                    else (None, None)
                )
            self.run.batch = {
                "epoch": epoch,
                "batch": batch,
                "n_batches": n_batches,
                "phase": phase,
                "train_loss": loss,
                "train_acc": acc,
            }

    def on_split(self, split: str) -> None:
        with self.lock:
            self.run.outcome.split = split

    def on_test(self, report: dict[str, Any]) -> None:
        with self.lock:
            self.run.outcome.test_report = TestReport.model_validate(report)
            self.run.save()

    def on_epoch_end(self, result: EpochResult, history: dict[str, list[float]]) -> None:
        with self.lock:
            run, now = self.run, time.monotonic()
            run.history = history
            run.epoch_times.append(now - (run.t_phase or now))  # the whole epoch, writes included
            run.t_phase = now
            outcome = run.outcome
            if outcome.best_val_acc is None or result.val_acc > outcome.best_val_acc:
                outcome.best_val_acc, outcome.best_epoch = result.val_acc, result.epoch
            outcome.files = files_on_disk(run.run_dir)
            if now - self._saved_at >= self.save_interval:
                run.save(sync_dir=False)  # the run's end writes it again, folder synced
                self._saved_at = now


def build_status(run: Run | None) -> Status:
    if run is None:
        return Status.idle()
    hist = run.history

    def last(key: str) -> float | None:
        return hist[key][-1] if hist[key] else None

    elapsed, eta = run.elapsed(), run.eta()
    return Status(
        **dict(run.outcome),
        is_training=run.state.active,
        current_epoch=len(hist["train_losses"]),
        total_epochs=run.config.n_epochs,
        train_loss=last("train_losses"),
        val_loss=last("val_losses"),
        train_acc=last("train_accs"),
        val_acc=last("val_accs"),
        elapsed_time=elapsed,
        elapsed_time_formatted=format_duration(elapsed),
        eta=eta,
        eta_formatted=format_duration(eta),
        history=Metrics(**hist),
        phase=run.phase,
        batch=BatchProgress(**run.batch) if run.batch else None,
    )
