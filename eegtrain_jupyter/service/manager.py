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
import shutil
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, BinaryIO

from ..config import env
from ..config.data import FilesData
from ..config.training import TrainingConfig, parse_config, validate_config
from ..data.paths import PathPolicy, os_reason
from ..engine.events import TrainingListener
from ..errors import AlreadyTrainingError, ConfigError, EegtrainError, InsufficientStorage, ResourceError
from ..runtime.dataworker import DataWorker
from ..runtime.launcher import WorkerSession
from ..runtime.outcome import Outcome, Runtime
from ..runtime.protocol import PLAIN, RunMode
from ..runtime.resources import check_resources
from ..runtime.supervisor import supervise
from ..schemas import (
    Comparison,
    Deleted,
    Evaluation,
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
from .execution import Execution
from .progress import build_status, format_duration
from .recorded import RecordedRuns
from .runs import Run, RunStore, this_process
from .serving import RunServing

if TYPE_CHECKING:
    from ..data.windows import Windows
    from ..schemas import DataSummary

__all__ = ["TrainingListener", "TrainingManager", "TrainingState", "format_duration"]

log = logging.getLogger(__name__)

TRIAL_BATCH_INTERVAL = 0.1
"""Seconds between the batch events of a search's trial (see :func:`~.supervisor.supervise`)."""


@dataclass(frozen=True)
class Job:
    """A job of several runs holding the trainer (a search): its id, and how to stop it."""

    owner: str
    stop: Callable[[], None]


def _job_running(owner: str) -> str:
    """The 409 message while the job ``owner`` (a search or benchmark id) holds the trainer."""
    what = "A benchmark" if owner.startswith("bench-") else "A hyper-parameter search"
    return f"{what} is running ({owner})"


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
        on the same windows and backbone (:class:`~..engine.feature_cache.FeatureCache`).
    data_timeout_s, data_memory_mb, data_workers
        Limits of the data worker (:class:`~..runtime.dataworker.DataWorker`) that reads every
        recording, weights file and checkpoint outside a run: seconds per task, memory per process
        and tasks at once (default: ``EEGTRAIN_DATA_*``, see :mod:`~..config.env`).
    runtime : Runtime, optional
        What executes each run (:class:`~..runtime.outcome.Runtime`); default
        :func:`~..runtime.supervisor.supervise`, a worker process per run. Tests of the life
        cycle pass a fake that emits a few events without forking one.

    Notes
    -----
    Each run trains in its own worker process (:mod:`.supervisor`, :mod:`.worker`); the one
    training thread here supervises it and calls the listeners with the worker's events, one at
    a time (the worker waits for each). A stop sends a stop message (honoured before the next
    batch), then SIGTERM after ``stop_grace[0]`` seconds, then SIGKILL after ``stop_grace[1]``.
    """

    def __init__(
        self,
        root_dir: str | os.PathLike[str] = ".",
        *,
        confine_to_root: bool = False,
        min_free_memory_mb: float = 256.0,
        listeners: Sequence[TrainingListener] = (),
        thread_settings: Mapping[str, int | None] | None = MappingProxyType({}),
        feature_cache: bool = True,
        data_timeout_s: float | None = None,
        data_memory_mb: float | None = None,
        data_workers: int | None = None,
        runtime: Runtime | None = None,
    ):
        self.paths = PathPolicy(root_dir, confine=confine_to_root)
        self.root_dir = self.paths.root_dir
        self.min_free_memory_mb = min_free_memory_mb
        self.listeners = list(listeners)
        self.store = RunStore(self.root_dir, confine=self.paths.confine)
        self.feature_cache = self.root_dir / ".eegtrain" / "features" if feature_cache else None
        self.data_worker = DataWorker(
            size=data_workers or env.default_data_workers(),
            timeout_s=data_timeout_s or env.default_data_timeout_s(),
            memory_mb=data_memory_mb or env.default_data_memory_mb(),
        )
        self._lock = threading.RLock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._worker_pid: int | None = None
        self._run: Run | None = self.store.recover()
        self._job: Job | None = None  # a search holding the trainer
        self._session: WorkerSession | None = None  # the job's worker, kept across its runs
        self.serving = RunServing(self.paths, self.data_worker)
        self.recorded = RecordedRuns(self.store, self.serving, self._lock, lambda: self._run, self._forget)
        self._execution = Execution(
            self._lock,
            self._stop_event,
            self.store,
            self.root_dir,
            self.paths.confine,
            listeners=self.listeners,
            thread_settings=thread_settings,
            feature_cache=self.feature_cache,
            windows_cache=self.root_dir / ".eegtrain" / "cache",
            on_worker=self._worker_changed,
            runtime=runtime or supervise,
        )

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
        self._check_free(owner)
        if data is None and cfg.data.source != "synthetic":
            # bad data is refused here, before the run exists; the worker then reads the windows
            # again, from the windows cache this scan filled
            self._scan(cfg)
        elif data is not None:  # windows from the caller's own process (a notebook kernel)
            from ..data.preprocess import check_windows
            from ..data.splits import check_data_split

            check_windows(data.X, data.prep())
            check_data_split(data, cfg)
        elif cfg.split_by == "subject" and getattr(cfg.data, "n_subjects", 0) < (3 if cfg.test_split else 2):
            raise ConfigError.field(
                "split_by",
                "a subject-wise split needs at least "
                f"{3 if cfg.test_split else 2} subjects (data.n_subjects)",
            )
        with self._lock:
            self._check_free(owner)
            check_resources(cfg, min_free_memory_mb=self.min_free_memory_mb)
            run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
            run = Run(run_id, cfg, self.paths.resolve(cfg.save_dir, "save_dir"))
            run.owner = this_process()
            run.outcome.job = owner
            # the folders this start creates, outermost last: a refused start removes them again
            created = [p for p in (run.run_dir, *run.run_dir.parents) if not p.exists()]
            try:
                try:
                    run.run_dir.mkdir(parents=True, exist_ok=True)
                    run.save()
                except OSError as exc:  # read-only, a file in the way: the caller's to fix
                    raise ConfigError.field("save_dir", f"cannot write there: {os_reason(exc)}") from None
                try:
                    self.store.add(run)
                except OSError as exc:
                    raise ResourceError(f"cannot record the run in the run index: {os_reason(exc)}") from None
            except EegtrainError:
                if created:
                    shutil.rmtree(created[-1], ignore_errors=True)
                raise
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
                    summary = self._scan(cfg)
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
                self._job.stop()
            if self._run is not None and self._run.state.active:
                self._stop_event.set()
                self._run.outcome.state = TrainingState.STOPPING
            return build_status(self._run)

    def status(self) -> Status:
        """The core status fields plus state, phase, batch progress, error, run id and files."""
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
                test_report=run.outcome.test_report if run else None,
                epoch_times=list(run.epoch_times) if run else [],
                best_val_acc=run.outcome.best_val_acc if run else None,
                best_epoch=run.outcome.best_epoch if run else None,
            )

    def reserve(self, owner: str, on_stop: Callable[[], None]) -> None:
        """Hold the trainer for a job of several runs (a search): until :meth:`release`, only
        ``start(..., owner=owner)`` may start runs, and :meth:`stop` also calls ``on_stop``.
        The job's runs train one after another in one worker process
        (:class:`~.launcher.WorkerSession`), which :meth:`release` ends.

        Raises
        ------
        AlreadyTrainingError
            A run is active or another job holds the trainer.
        """
        with self._lock:
            if self._job is not None:
                raise AlreadyTrainingError(None, _job_running(self._job.owner))
            if self._run is not None and self._run.state.active:
                raise AlreadyTrainingError(self._run.run_id)
            self._job = Job(owner, on_stop)
            self._session = WorkerSession()

    def release(self, owner: str) -> None:
        """End ``owner``'s hold on the trainer and its worker (a no-op when it holds none)."""
        with self._lock:
            if self._job is None or self._job.owner != owner:
                return
            self._job, session, self._session = None, self._session, None
        if session is not None:
            session.close()

    @property
    def stop_grace(self) -> tuple[float, float]:
        """Seconds from the stop message to SIGTERM, and from SIGTERM to SIGKILL (10, 5)."""
        return self._execution.stop_grace

    @stop_grace.setter
    def stop_grace(self, value: tuple[float, float]) -> None:
        self._execution.stop_grace = value

    @property
    def worker_pid(self) -> int | None:
        """Process id of the current run's worker (None when no worker runs)."""
        with self._lock:
            return self._worker_pid

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
        """Stop any run and wait for its thread (history and checkpoint are kept); end the data
        worker."""
        self.stop()
        self.wait(timeout)
        self.data_worker.close()

    # -- recorded runs (see RecordedRuns) --------------------------------------------
    def runs(self, query: Mapping[str, str] | None = None) -> list[RunRecord]:
        """Every recorded run, newest first, or as ``query`` filters and sorts them."""
        return self.recorded.runs(query)

    def compare(self, run_ids: str | Sequence[str] | None) -> Comparison:
        """Runs side by side (``"a,b,c"`` or a list of ids)."""
        return self.recorded.compare(run_ids)

    def run(self, run_id: str) -> RunDetail:
        """One run in full (404 when unknown)."""
        return self.recorded.run(run_id)

    def run_file(self, run_id: str, name: str) -> Path:
        """The path of one of the run's own files."""
        return self.recorded.run_file(run_id, name)

    def open_run_file(self, run_id: str, name: str) -> BinaryIO:
        """One of the run's own files, open for reading (a symlink is refused: 404)."""
        return self.recorded.open_run_file(run_id, name)

    def predict(self, run_id: str, request: dict[str, Any] | None) -> Prediction:
        """Per-window probabilities and labels from the run's best checkpoint."""
        return self.recorded.predict(run_id, request)

    def evaluate(self, run_id: str, request: dict[str, Any] | None) -> Evaluation:
        """The run's best checkpoint scored on labelled recordings: its test report's shape."""
        return self.recorded.evaluate(run_id, request)

    def export(self, run_id: str, request: dict[str, Any] | None) -> ExportResult:
        """Export the run's best checkpoint with a parity report."""
        return self.recorded.export(run_id, request)

    def delete_run(self, run_id: str) -> Deleted:
        """Delete a run's folder and index entry (409 while it is active)."""
        return self.recorded.delete_run(run_id)

    # -- internals -------------------------------------------------------------------
    def _forget(self, run_id: str) -> None:
        """Drop the deleted run ``run_id`` as the current run (the caller holds the lock)."""
        if self._run is not None and self._run.run_id == run_id:
            self._run = None

    def _check_free(self, owner: str | None) -> None:
        """Raise AlreadyTrainingError unless ``owner`` may start a run now (a search holding the
        trainer is named first: its trials come and go)."""
        with self._lock:
            if self._job is not None and owner != self._job.owner:
                raise AlreadyTrainingError(None, _job_running(self._job.owner))
            if self._run is not None and self._run.state.active:
                raise AlreadyTrainingError(self._run.run_id)

    def _scan(self, cfg: TrainingConfig) -> DataSummary | None:
        """Read ``cfg.data`` in the data worker (filling the windows cache) and check that its split
        can be made; what it holds."""
        cache = self._execution.windows_cache
        summary: DataSummary | None = self.data_worker.call(
            "scan",
            field="data.paths" if isinstance(cfg.data, FilesData) else "data.path",
            config=cfg,
            root_dir=str(self.root_dir),
            confine=self.paths.confine,
            cache_dir=str(cache) if cache is not None else None,
        )
        return summary

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
                # in the data worker: a hub id resolved with the hub and pinned to its commit (the
                # run's worker downloads it), a local file or snapshot folder resolved inside the
                # root and read
                update["pretrained_weights"] = self.data_worker.call(
                    "check_weights",
                    field="pretrained_weights",
                    value=cfg.pretrained_weights,
                    model=cfg.model,
                    root_dir=str(self.root_dir),
                    confine=self.paths.confine,
                    hub_env=env.hub_environment(),
                )
            except ConfigError as exc:
                errors += exc.errors
        if errors:
            raise ConfigError(errors)
        return cfg.model_copy(update=update) if update else cfg

    def _work(
        self, run: Run, run_listeners: Sequence[TrainingListener] = (), data: Windows | None = None
    ) -> None:
        # Whatever happens in there, the run leaves the active states here: a failure after
        # training (e.g. publishing into a full disk) must not leave the manager "busy".
        outcome = Outcome(TrainingState.FAILED, error="training ended unexpectedly")
        try:
            with self._lock:  # a search's trial: batch events throttled, its files left in its folder
                session = self._session if self._job is not None else None
            mode = PLAIN if session is None else RunMode.trial(session, TRIAL_BATCH_INTERVAL)
            outcome = self._execution(run, run_listeners, data, mode)
        finally:
            with self._lock:
                run.end(outcome)
                try:
                    run.save()
                except (OSError, InsufficientStorage):
                    log.exception("could not record run %s", run.run_id)
            run.done.set()

    def _worker_changed(self, pid: int | None) -> None:
        with self._lock:
            self._worker_pid = pid
