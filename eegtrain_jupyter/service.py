"""TrainingManager: the life cycle of one background training thread and its current run.

Every surface (REST handlers, notebook panel, CLI) drives training through this class and
reads :meth:`TrainingManager.status` (a :class:`~.schemas.Status` snapshot, safe from any
thread). Runs on disk are :mod:`.runs`' business, user paths :mod:`.paths`', errors
:mod:`.errors`' and the shapes :mod:`.schemas`'.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .artifacts import OUTPUT_KINDS
from .config import TrainingConfig, parse_config, validate_config
from .data import load_windows
from .engine import train
from .errors import AlreadyTrainingError, ConfigError, Conflict
from .events import EpochResult, TrainingListener
from .model import BackboneInfo
from .model_card import ModelCardWriter
from .paths import PathPolicy, os_reason
from .resources import check_resources
from .runs import Run, RunStore, now_iso, this_process
from .schemas import (
    Backbone, BatchProgress, Deleted, ExportResult, History, Metrics, Prediction, RunDetail, RunRecord, Status,
    TrainingState, ValidationBody, empty_history,
)
from .serving import RunServing
from .tuning import configure_training_thread

__all__ = ["TrainingManager", "TrainingListener", "TrainingState", "format_duration"]

log = logging.getLogger(__name__)


def format_duration(seconds: float | None) -> str | None:
    """The seed's compact form: ``45.3s``, ``2.1m``, ``1.5h``."""
    if seconds is None:
        return None
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


class _RunListener(TrainingListener):
    """Feeds engine events into the run record under the manager's lock."""

    def __init__(self, lock: threading.RLock, run: Run):
        self.lock, self.run = lock, run

    def on_phase(self, phase: str) -> None:
        with self.lock:
            self.run.phase, self.run.batch = phase, None
            self.run.t_phase = time.monotonic()
            if phase == "training" and self.run.state is TrainingState.PREPARING:
                self.run.state = TrainingState.TRAINING

    def on_setup(self, *, device: str, precision: str, backbone: BackboneInfo, n_train: int,
                 n_val: int) -> None:
        with self.lock:
            self.run.device, self.run.precision = device, precision
            self.run.backbone = Backbone.model_validate(backbone.to_dict())
            self.run.save()

    def on_batch(self, **batch: Any) -> None:
        with self.lock:
            self.run.batch = batch

    def on_epoch_end(self, result: EpochResult, history: dict[str, list[float]]) -> None:
        with self.lock:
            run, now = self.run, time.monotonic()
            run.history = history
            run.epoch_times.append(now - (run.t_phase or now))  # the whole epoch, writes included
            run.t_phase = now
            if run.best_val_acc is None or result.val_acc > run.best_val_acc:
                run.best_val_acc, run.best_epoch = result.val_acc, result.epoch
            run.files = {kind: str(run.run_dir / name) for kind, name in OUTPUT_KINDS.items()
                         if (run.run_dir / name).exists()}
            run.save()


class TrainingManager:
    """Owns at most one training thread and the record of the current/last run.

    Parameters
    ----------
    root_dir : path
        Relative paths resolve against it; the run index lives in ``root_dir/.eegtrain``.
    confine_to_root : bool
        Refuse paths that resolve outside ``root_dir`` (the server sets this).
    min_free_memory_mb : float
        Refuse a run when available memory minus its estimate falls below this.
    listeners : sequence of TrainingListener
        Also receive every engine event (e.g. a CLI progress bar).
    thread_settings : dict or None
        ``num_threads``/``nice``/``switch_interval_ms`` for the training thread
        (:func:`~.tuning.configure_training_thread`; missing ones come from ``EEGTRAIN_*``), so
        callers sharing the process (a server's IO loop, a kernel) stay responsive. ``None`` (the
        CLI) lets training take every core at normal priority.
    """

    def __init__(
        self,
        root_dir: str | os.PathLike = ".",
        *,
        confine_to_root: bool = False,
        min_free_memory_mb: float = 256.0,
        listeners: Sequence[TrainingListener] = (),
        thread_settings: Mapping[str, int | None] | None = MappingProxyType({}),
    ):
        self.paths = PathPolicy(root_dir, confine=confine_to_root)
        self.root_dir = self.paths.root_dir
        self.min_free_memory_mb = min_free_memory_mb
        self.listeners = list(listeners)
        self.thread_settings = thread_settings
        self.store = RunStore(self.root_dir)
        self._lock = threading.RLock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._run: Run | None = self.store.recover()
        self.serving = RunServing(self.paths)

    # -- public API ------------------------------------------------------------------
    def start(self, config: dict[str, Any] | TrainingConfig | None = None) -> Status:
        """Validate, check resources and start a run in the background; return its status.

        Raises
        ------
        ConfigError
            Invalid fields (each named), or a path outside the allowed root.
        AlreadyTrainingError
            A run is active.
        ResourceError
            Not enough memory (or GPU memory) for this config.
        """
        cfg = self._resolve_paths(parse_config(config))
        with self._lock:
            if self._run is not None and self._run.state.active:
                raise AlreadyTrainingError(self._run.run_id)
            check_resources(cfg, min_free_memory_mb=self.min_free_memory_mb)
            run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
            run = Run(run_id, cfg, self.paths.resolve(cfg.save_dir, "save_dir"))
            run.owner = this_process()
            try:
                run.run_dir.mkdir(parents=True, exist_ok=True)
                run.save()
            except OSError as exc:  # read-only, a file in the way, disk full: the caller's to fix
                raise ConfigError.field("save_dir", f"cannot write there: {os_reason(exc)}") from None
            self.store.add(run)
            self._run = run
            self._stop_event.clear()
            self._thread = threading.Thread(target=self._work, args=(run,), name=f"eegtrain-{run_id}",
                                            daemon=True)
            self._thread.start()
            return self._status(run)

    def validate(self, config: dict[str, Any] | None = None) -> ValidationBody:
        """Per-field validation as :func:`~.config.validate_config`, plus the path rules of :meth:`start`."""
        result = validate_config(config)
        errors = list(result.errors)
        if result.config is not None:
            try:
                self._resolve_paths(result.config)
            except ConfigError as exc:
                errors = exc.errors
        return ValidationBody(valid=not errors, errors=[e.to_dict() for e in errors],
                              config=None if errors else result.config)

    def stop(self) -> Status:
        """Ask the active run to stop (it ends within one batch); a no-op when idle."""
        with self._lock:
            if self._run is not None and self._run.state.active:
                self._stop_event.set()
                self._run.state = TrainingState.STOPPING
            return self._status(self._run)

    def status(self) -> Status:
        """The seed's status shape plus state, phase, batch progress, error, run id and files."""
        with self._lock:
            return self._status(self._run)

    def history(self) -> History:
        """Metrics of the current/last run."""
        with self._lock:
            run = self._run
            return History(
                run_id=run.run_id if run else None,
                state=run.state if run else TrainingState.IDLE,
                **(run.history if run else empty_history()),
                epoch_times=list(run.epoch_times) if run else [],
                best_val_acc=run.best_val_acc if run else None,
                best_epoch=run.best_epoch if run else None,
            )

    def runs(self) -> list[RunRecord]:
        """Every recorded run, newest first."""
        with self._lock:
            return self.store.records(self._run)

    # -- using recorded runs (issue 12): lookup here, the work in serving/predict/export ---------
    def run(self, run_id: str) -> RunDetail:
        """One run in full: record, history, checkpoint and test metrics, model card, files (404 when unknown)."""
        with self._lock:  # the current run's record and history change under this lock
            return self.serving.detail(self._find(run_id))

    def run_file(self, run_id: str, name: str) -> Path:
        """The path of one of the run's own files (``name`` as listed in ``RunDetail.downloads``)."""
        return self.serving.file(self._find(run_id), name)

    def predict(self, run_id: str, request: dict[str, Any] | None) -> Prediction:
        """Per-window probabilities and labels from the run's best checkpoint (409 when it has none yet)."""
        return self.serving.predict(self._find(run_id), request)

    def export(self, run_id: str, request: dict[str, Any] | None) -> ExportResult:
        """Export the run's best checkpoint (``{"format": "onnx" | "torch_export"}``) with a parity report."""
        return self.serving.export(self._find(run_id), request)

    def delete_run(self, run_id: str) -> Deleted:
        """Delete a run's folder and index entry; an active run (here or in another process) is 409."""
        with self._lock:
            run = self._find(run_id)
            if run.state.active:
                raise Conflict(f"run {run_id} is {run.state.value}; stop it before deleting it")
            run_dir = self.store.delete(run_id)
            if self._run is not None and self._run.run_id == run_id:
                self._run = None
        self.serving.forget(run)
        return Deleted(run_id=run_id, run_dir=str(run_dir), deleted=not run_dir.exists())

    def _find(self, run_id: str) -> Run:
        with self._lock:
            return self.store.find(run_id, self._run)

    def is_active(self) -> bool:
        with self._lock:
            return self._run is not None and self._run.state.active

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run has ended; True if it did within ``timeout``.

        Waits on the run's own event, not ``Thread.join``: a KeyboardInterrupt inside ``join``
        can leave CPython believing the thread has ended (gh-90882).
        """
        with self._lock:
            run, thread = self._run, self._thread
        if run is None:
            return True
        done = run.done.wait(timeout)
        if done and thread is not None:
            thread.join(5.0)  # only the return from _work is left
        return done

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop any run and wait for its thread (history and checkpoint are kept)."""
        self.stop()
        self.wait(timeout)

    # -- internals -------------------------------------------------------------------
    def _resolve_paths(self, cfg: TrainingConfig) -> TrainingConfig:
        """``cfg`` with its paths resolved against the root (so the thread ignores the cwd)."""
        self.paths.directory(cfg.save_dir, "save_dir")
        if cfg.pretrained_weights is None:
            return cfg
        weights = self.paths.file(cfg.pretrained_weights, "pretrained_weights")
        return cfg.model_copy(update={"pretrained_weights": str(weights)})

    def _work(self, run: Run) -> None:
        if self.thread_settings is not None:
            configure_training_thread(**self.thread_settings)
        # Whatever happens in here, the run leaves the active states (``finally``): a failure
        # after training (e.g. publishing into a full disk) must not leave the manager "busy".
        state, error, published, files = TrainingState.FAILED, "training ended unexpectedly", {}, {}
        try:
            listener = _RunListener(self._lock, run)
            listener.on_phase("loading data")
            data = load_windows(run.config)
            card = ModelCardWriter(run.run_dir, data, run.run_id)
            result = train(run.config, data, run.run_dir, listeners=[listener, card, *self.listeners],
                           should_stop=self._stop_event.is_set)
            files = result.files
            state, error = (TrainingState.STOPPED, None) if result.stopped else (TrainingState.COMPLETED, None)
            if state is TrainingState.COMPLETED:
                try:  # outside the lock: status() stays responsive while the checkpoint copies
                    published = self.store.publish(run)
                except OSError as exc:
                    log.exception("could not publish the outputs of run %s", run.run_id)
                    state = TrainingState.FAILED
                    error = (f"training finished but its outputs could not be copied into "
                             f"{run.save_dir} ({type(exc).__name__}: {exc}); they are in {run.run_dir}")
        except Exception as exc:  # captured into status; the process lives on
            log.exception("training run %s failed", run.run_id)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                run.duration = time.monotonic() - run.t_start
                run.state, run.error, run.phase, run.batch = state, error, None, None
                run.finished_at = now_iso()
                run.files, run.published = dict(files), published
                try:
                    run.save()
                except OSError:
                    log.exception("could not record run %s", run.run_id)
            run.done.set()

    def _status(self, run: Run | None) -> Status:
        if run is None:
            return Status.idle()
        hist = run.history
        last = (lambda key: hist[key][-1] if hist[key] else None)
        elapsed, eta = run.elapsed(), run.eta()
        return Status(
            is_training=run.state.active, current_epoch=len(hist["train_losses"]),
            total_epochs=run.config.n_epochs, train_loss=last("train_losses"),
            val_loss=last("val_losses"), train_acc=last("train_accs"), val_acc=last("val_accs"),
            best_val_acc=run.best_val_acc, best_epoch=run.best_epoch, elapsed_time=elapsed,
            elapsed_time_formatted=format_duration(elapsed), eta=eta, eta_formatted=format_duration(eta),
            config=run.config, history=Metrics(**hist), state=run.state, phase=run.phase,
            batch=BatchProgress(**run.batch) if run.batch else None, error=run.error, run_id=run.run_id,
            device=run.device, precision=run.precision, backbone=run.backbone,
            started_at=run.started_at, finished_at=run.finished_at, run_dir=str(run.run_dir),
            save_dir=str(run.save_dir), files=dict(run.files), published=dict(run.published),
        )

