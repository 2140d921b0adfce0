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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from . import tensorboard_writer
from .artifacts import OUTPUT_KINDS
from .compare import RunQuery, compare_runs, select
from .config import TrainingConfig, parse_config, validate_config
from .data import Windows, scan
from .errors import AlreadyTrainingError, ConfigError, Conflict, FieldError
from .events import TrainingListener, TrainingResult
from .feature_cache import FeatureCache
from .model import PretrainedWeightsError, check_weights_file
from .model_card import ModelCardWriter
from .paths import PathPolicy, os_reason
from .progress import RunProgress, build_status, format_duration, report_shape
from .resources import check_resources
from .runs import Run, RunStore, now_iso, this_process
from .schemas import (
    Comparison,
    Deleted,
    ExportResult,
    FieldErrorBody,
    History,
    Prediction,
    RunDetail,
    RunRecord,
    Status,
    TrainingState,
    ValidationBody,
    empty_history,
)
from .serving import RunServing
from .splits import check_split
from .supervisor import supervise
from .tuning import configure_training_thread, resolve_thread_settings

__all__ = ["TrainingListener", "TrainingManager", "TrainingState", "format_duration"]

log = logging.getLogger(__name__)

TRIAL_BATCH_INTERVAL = 0.1
"""Seconds between the batch events of a search's trial (see :func:`~.supervisor.supervise`)."""


class _WorkerFailed(Exception):
    """The worker process ended the run with an error (its message says how it died)."""


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
        ``num_threads``/``nice``/``switch_interval_ms`` for the training worker
        (:func:`~.tuning.configure_training_thread`; missing ones come from ``EEGTRAIN_*``), so
        the server's IO loop or a kernel stays responsive. ``None`` (the CLI) lets training take
        every core at normal priority.
    feature_cache : bool
        Keep frozen-backbone features in ``root_dir/.eegtrain/features`` and reuse them for runs
        on the same windows and backbone (:class:`~.feature_cache.FeatureCache`).

    Notes
    -----
    Each run trains in its own worker process (:mod:`.supervisor`, :mod:`.worker`); the one
    training thread here supervises it and calls the listeners with the worker's events, one at
    a time (the worker waits for each). A stop sends a stop message (honoured before the next
    batch), then SIGTERM after ``stop_grace[0]`` seconds, then SIGKILL after ``stop_grace[1]``.
    """

    stop_grace: tuple[float, float] = (10.0, 5.0)
    """Seconds from the stop message to SIGTERM, and from SIGTERM to SIGKILL."""

    def __init__(
        self,
        root_dir: str | os.PathLike[str] = ".",
        *,
        confine_to_root: bool = False,
        min_free_memory_mb: float = 256.0,
        listeners: Sequence[TrainingListener] = (),
        thread_settings: Mapping[str, int | None] | None = MappingProxyType({}),
        feature_cache: bool = True,
    ):
        self.paths = PathPolicy(root_dir, confine=confine_to_root)
        self.root_dir = self.paths.root_dir
        self.min_free_memory_mb = min_free_memory_mb
        self.listeners = list(listeners)
        self.thread_settings = thread_settings
        self.store = RunStore(self.root_dir)
        self.feature_cache = FeatureCache(self.root_dir / ".eegtrain" / "features") if feature_cache else None
        self._lock = threading.RLock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._worker_pid: int | None = None
        self._run: Run | None = self.store.recover()
        self._job: tuple[str, Callable[[], None]] | None = None  # a search holding the trainer
        self.serving = RunServing(self.paths)

    # -- public API ------------------------------------------------------------------
    def start(
        self,
        config: dict[str, Any] | TrainingConfig | None = None,
        *,
        listeners: Sequence[TrainingListener] = (),
        owner: str | None = None,
        data: Windows | None = None,
    ) -> Status:
        """Validate, check resources and start a run in the background; return its status.

        ``listeners`` receive this run's events (after the manager's own); ``owner`` is the job
        (a search, see :meth:`reserve`) that holds the trainer, if any. A ``files``/``epochs``
        source is read (or taken from the windows cache) here, before the run exists, so bad data
        is refused with nothing written. ``data`` trains on windows the caller already has
        (``config.data`` is then only recorded).

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
        if data is None and cfg.data.source != "synthetic":
            data = self._scan(cfg)[0]
        elif data is not None:
            from .preprocess import check_windows

            check_windows(data.X, data.prep())
            check_split(data, split_by=cfg.split_by, test_split=cfg.test_split)
        elif cfg.split_by == "subject" and getattr(cfg.data, "n_subjects", 0) < (3 if cfg.test_split else 2):
            raise ConfigError.field(
                "split_by",
                "a subject-wise split needs at least "
                f"{3 if cfg.test_split else 2} subjects (data.n_subjects)",
            )
        with self._lock:
            if self._run is not None and self._run.state.active:
                raise AlreadyTrainingError(self._run.run_id)
            if self._job is not None and owner != self._job[0]:
                raise AlreadyTrainingError(None, f"A hyper-parameter search is running ({self._job[0]})")
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
            self._thread = threading.Thread(
                target=self._work, args=(run, list(listeners), data), name=f"eegtrain-{run_id}", daemon=True
            )
            self._thread.start()
            return build_status(run)

    def validate(self, config: dict[str, Any] | None = None) -> ValidationBody:
        """Per-field validation as :func:`~.config.validate_config`, plus the path rules of :meth:`start`."""
        result = validate_config(config)
        errors = list(result.errors)
        summary = None
        if result.config is not None:
            try:
                cfg = self._resolve_paths(result.config)
                if cfg.data.source != "synthetic":
                    summary = self._scan(cfg)[1]
            except ConfigError as exc:
                errors = exc.errors
        return ValidationBody(
            valid=not errors,
            errors=[FieldErrorBody(**e.to_dict()) for e in errors],
            config=None if errors else result.config,
            data_summary=None if errors else summary,
        )

    def stop(self) -> Status:
        """Ask the active run to stop (it ends within one batch), and end a search holding the
        trainer; a no-op when idle."""
        with self._lock:
            if self._job is not None:
                self._job[1]()
            if self._run is not None and self._run.state.active:
                self._stop_event.set()
                self._run.state = TrainingState.STOPPING
            return build_status(self._run)

    def status(self) -> Status:
        """The seed's status shape plus state, phase, batch progress, error, run id and files."""
        with self._lock:
            return build_status(self._run)

    def history(self) -> History:
        """Metrics of the current/last run."""
        with self._lock:
            run = self._run
            return History(
                run_id=run.run_id if run else None,
                state=run.state if run else TrainingState.IDLE,
                **(run.history if run else empty_history()),
                test_report=report_shape(run.test_report if run else None),
                epoch_times=list(run.epoch_times) if run else [],
                best_val_acc=run.best_val_acc if run else None,
                best_epoch=run.best_epoch if run else None,
            )

    def runs(self, query: Mapping[str, str] | None = None) -> list[RunRecord]:
        """Every recorded run, newest first; or filtered and sorted by ``query`` (the query
        arguments of ``GET /training/runs``: state, model, sort, order, limit; see
        :class:`~.compare.RunQuery`; a bad one is a ConfigError naming it)."""
        parsed = RunQuery.parse(query) if query else None
        with self._lock:
            records = self.store.records(self._run)
        return select(records, parsed) if parsed is not None else records

    def compare(self, run_ids: str | Sequence[str] | None) -> Comparison:
        """Runs side by side (``"a,b,c"`` or a list of ids): aligned histories and config diffs.

        Raises
        ------
        ConfigError
            No ids, or too many (field ``runs``).
        NotFound
            An id that is not a recorded run (each named).
        """
        with self._lock:
            current = self._run
            return compare_runs(self.store, current, run_ids)

    def reserve(self, owner: str, on_stop: Callable[[], None]) -> None:
        """Hold the trainer for a job of several runs (a search): until :meth:`release`, only
        ``start(..., owner=owner)`` may start runs, and :meth:`stop` also calls ``on_stop``.

        Raises
        ------
        AlreadyTrainingError
            A run is active or another job holds the trainer.
        """
        with self._lock:
            if self._job is not None:
                raise AlreadyTrainingError(None, f"A hyper-parameter search is running ({self._job[0]})")
            if self._run is not None and self._run.state.active:
                raise AlreadyTrainingError(self._run.run_id)
            self._job = (owner, on_stop)

    def release(self, owner: str) -> None:
        """End ``owner``'s hold on the trainer (a no-op when it holds none)."""
        with self._lock:
            if self._job is not None and self._job[0] == owner:
                self._job = None

    @property
    def worker_pid(self) -> int | None:
        """Process id of the current run's worker (None when no worker runs)."""
        with self._lock:
            return self._worker_pid

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
    def _scan(self, cfg: TrainingConfig) -> tuple[Windows, Any]:
        """Read ``cfg.data`` (through the windows cache) and check that its split can be made."""
        windows, summary = scan(cfg, self.paths, self.root_dir / ".eegtrain" / "cache")
        check_split(windows, split_by=cfg.split_by, test_split=cfg.test_split)
        return windows, summary

    def _resolve_paths(self, cfg: TrainingConfig) -> TrainingConfig:
        """``cfg`` with its paths resolved against the root (so the thread ignores the cwd).

        Raises one :class:`ConfigError` naming every path field that cannot be used.
        """
        errors, update = [], {}
        try:
            self.paths.directory(cfg.save_dir, "save_dir")
        except ConfigError as exc:
            errors += exc.errors
        if cfg.pretrained_weights is not None:
            try:
                weights = self.paths.file(cfg.pretrained_weights, "pretrained_weights")
                check_weights_file(weights)
                update["pretrained_weights"] = str(weights)
            except ConfigError as exc:
                errors += exc.errors
            except PretrainedWeightsError as exc:
                errors.append(FieldError("pretrained_weights", str(exc)))
        if errors:
            raise ConfigError(errors)
        return cfg.model_copy(update=update) if update else cfg

    def _work(
        self, run: Run, run_listeners: Sequence[TrainingListener] = (), data: Windows | None = None
    ) -> None:
        # Whatever happens in here, the run leaves the active states (``finally``): a failure
        # after training (e.g. publishing into a full disk) must not leave the manager "busy".
        state = TrainingState.FAILED
        error: str | None = "training ended unexpectedly"
        published: dict[str, str] = {}
        files: dict[str, str] = {}
        tensorboard: tensorboard_writer.TensorBoardWriter | None = None
        try:
            listener = RunProgress(self._lock, run)
            tensorboard = tensorboard_writer.for_run(run.save_dir, run.run_id, run.config)
            extra = [tensorboard] if tensorboard is not None else []
            listeners: list[TrainingListener] = [listener, *extra, *self.listeners, *run_listeners]
            result: TrainingResult | None
            if data is not None:
                # windows handed over in Python (numpy, mne.Epochs) train in this thread: only a
                # config's data source can be loaded by a worker process
                result = self._train_here(run, data, listeners)
            else:
                # the engine (data loading, precision, feature cache) runs in the worker; these
                # listeners run here, one event at a time
                outcome = supervise(
                    run.config,
                    run.run_dir,
                    listeners,
                    self._stop_event,
                    thread_settings=resolve_thread_settings(self.thread_settings),
                    grace=self.stop_grace,
                    on_start=self._worker_started,
                    feature_cache=self.feature_cache.folder if self.feature_cache else None,
                    root_dir=self.root_dir,
                    confine=self.paths.confine,
                    batch_interval=TRIAL_BATCH_INTERVAL if self._job is not None else 0.0,
                )
                if outcome.error is not None:
                    raise _WorkerFailed(outcome.error)
                result = outcome.result
            files = result.files if result is not None else self._files_on_disk(run)
            with self._lock:
                run.early_stopped = bool(result and result.early_stopped)
            stopped = result.stopped if result is not None else True
            state, error = (TrainingState.STOPPED, None) if stopped else (TrainingState.COMPLETED, None)
            if state is TrainingState.COMPLETED:
                try:  # outside the lock: status() stays responsive while the checkpoint copies
                    published = self.store.publish(run)
                except OSError as exc:
                    log.exception("could not publish the outputs of run %s", run.run_id)
                    state = TrainingState.FAILED
                    error = (
                        f"training finished but its outputs could not be copied into "
                        f"{run.save_dir} ({type(exc).__name__}: {exc}); they are in {run.run_dir}"
                    )
        except _WorkerFailed as exc:  # the worker's own account (signal, exit code, last log lines)
            error = str(exc)
        except Exception as exc:  # captured into status; the process lives on
            log.exception("training run %s failed", run.run_id)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            if tensorboard is not None:
                tensorboard.close()
            with self._lock:
                self._worker_pid = None
                run.duration = time.monotonic() - run.t_start
                run.state, run.error, run.phase, run.batch = state, error, None, None
                run.finished_at = now_iso()
                run.files, run.published = dict(files), published
                try:
                    run.save()
                except OSError:
                    log.exception("could not record run %s", run.run_id)
            run.done.set()

    def _train_here(self, run: Run, data: Windows, listeners: list[TrainingListener]) -> TrainingResult:
        """Train windows given in Python in this thread (a worker process cannot receive them)."""
        from .engine import train

        if self.thread_settings is not None:
            configure_training_thread(**self.thread_settings)
        card = ModelCardWriter(run.run_dir, data, run.run_id)
        return train(
            run.config,
            data,
            run.run_dir,
            listeners=[card, *listeners],
            should_stop=self._stop_event.is_set,
            feature_cache=self.feature_cache,
        )

    def _worker_started(self, pid: int) -> None:
        with self._lock:
            self._worker_pid = pid

    @staticmethod
    def _files_on_disk(run: Run) -> dict[str, str]:
        return {
            kind: str(run.run_dir / name)
            for kind, name in OUTPUT_KINDS.items()
            if (run.run_dir / name).exists()
        }
