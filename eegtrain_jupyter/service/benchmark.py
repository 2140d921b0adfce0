"""BenchmarkManager: several models × the folds of one evaluation protocol × repeats, each an
ordinary run through the one :class:`~eegtrain_jupyter.service.manager.TrainingManager`.

A benchmark holds the trainer for its whole length (:meth:`TrainingManager.reserve`, as a search
does): starting a run, a search or another benchmark meanwhile is a 409, and ``POST
/training/stop`` ends it (the running fold is stopped; finished folds are kept). Every (model,
fold, repeat) config is validated, and every fold checked against the data (in the data worker),
before the first run starts, so a bad request is a 400 with nothing started. Runs go repeat by
repeat, fold by fold, every model on a fold before the next fold, so paired scores come early.
Each run is listed with the benchmark's id (its ``job``) and its fold (``config.evaluation``).

The record ``<root>/.eegtrain/benchmark.json`` says who runs the last benchmark and what each run
scored; after a crash or restart a benchmark whose process is gone is ``interrupted``, its finished
runs kept, and ``POST /training/benchmark`` with ``{"resume": "<id>"}`` runs the rest. After every
fold (and at the end) the data worker writes the outputs into ``<save_dir>/benchmarks/<id>/``
(:func:`~eegtrain_jupyter.runtime.tasks.benchmark_report`): this process never imports numpy.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from .. import files
from ..config.benchmark import BenchmarkModel, BenchmarkRequest, fold_config, parse_benchmark
from ..config.data import SyntheticData
from ..config.training import TrainingConfig
from ..errors import AlreadyTrainingError, ConfigError, EegtrainError, FieldError
from ..files import now_iso
from ..schemas import (
    BENCHMARK_METRICS,
    BENCHMARK_PREFIX,
    BenchmarkResult,
    BenchmarkState,
    BenchmarkStatus,
    BenchmarkSummary,
    TrainingState,
)
from .runs import _owner_alive, this_process

if TYPE_CHECKING:
    from .manager import TrainingManager

__all__ = ["BenchmarkManager", "BenchmarkRecord"]

log = logging.getLogger(__name__)


class BenchmarkRecord(BaseModel):
    """``<root>/.eegtrain/benchmark.json``: the last benchmark, its runs and the process running it."""

    model_config = ConfigDict(extra="forbid")

    benchmark_id: str
    state: BenchmarkState
    request: BenchmarkRequest
    protocol: str
    n_folds: int
    folder: str
    started_at: str
    finished_at: str | None = None
    error: str | None = None
    owner: dict[str, Any] | None = None
    results: list[BenchmarkResult] = []
    summary: BenchmarkSummary | None = None

    @property
    def n_repeats(self) -> int:
        return int(self.request.config.get("evaluation", {}).get("n_repeats", 1))

    def done(self, label: str, fold: int, repeat: int) -> bool:
        return any(
            r.label == label and r.fold == fold and r.repeat == repeat and r.state == "completed"
            for r in self.results
        )


def _synthetic_folds(config: TrainingConfig) -> int:
    """Folds of a synthetic source's protocol (its subjects are ``data.n_subjects``)."""
    assert isinstance(config.data, SyntheticData)
    ev = config.evaluation
    if ev.protocol == "cross_subject":
        return min(ev.n_folds, config.data.n_subjects)
    return ev.n_folds if ev.folded else 1


class BenchmarkManager:
    """Runs at most one benchmark at a time on ``manager``'s trainer (see the module docstring)."""

    def __init__(self, manager: TrainingManager):
        self.manager = manager
        self.record_path = manager.root_dir / ".eegtrain" / "benchmark.json"
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._done.set()
        self._current_run: str | None = None
        self._reported: frozenset[str | None] = frozenset()  # the completed runs the outputs show
        self._record: BenchmarkRecord | None = self._recover()

    # -- public API ------------------------------------------------------------------
    def start(self, body: dict[str, Any] | None) -> BenchmarkStatus:
        """Validate the request, every (model, fold) config and the data, then start the
        benchmark in the background (or resume one: ``{"resume": id}``).

        Raises
        ------
        ConfigError
            A bad request, model config, protocol for this data, or an unknown ``resume`` (400).
        AlreadyTrainingError
            A run, search or benchmark is active (409).
        """
        request = parse_benchmark(body)
        record = self._resumable(request.resume) if request.resume is not None else self._plan(request)
        with self._lock:
            if self.is_active():
                raise AlreadyTrainingError(None, f"A benchmark is running ({self._record.benchmark_id})")  # type: ignore[union-attr]
            self.manager.reserve(record.benchmark_id, self._stop.set)
            try:
                record.state, record.finished_at, record.error = BenchmarkState.RUNNING, None, None
                record.owner = this_process()
                record.results = [r for r in record.results if r.state == "completed"]
                Path(record.folder).mkdir(parents=True, exist_ok=True)
                self._save(record)
            except BaseException:
                self.manager.release(record.benchmark_id)
                raise
            self._record = record
            self._stop.clear()
            self._done.clear()
            threading.Thread(
                target=self._work, args=(record,), daemon=True, name=f"eegbench-{record.benchmark_id}"
            ).start()
            return self.status()

    def stop(self) -> BenchmarkStatus:
        """End the benchmark: the running fold stops within a batch; finished folds are kept."""
        self.manager.stop()  # calls self._stop.set through the reservation
        return self.status()

    def status(self) -> BenchmarkStatus:
        """The current/last benchmark: its runs so far and, once folds finished, the summary."""
        with self._lock:
            record, current = self._record, self._current_run
            if record is None:
                return BenchmarkStatus(
                    benchmark_id=None,
                    state=BenchmarkState.IDLE,
                    request=None,
                    protocol=None,
                    n_folds=None,
                    n_runs=0,
                    n_finished=0,
                    folder=None,
                    started_at=None,
                    finished_at=None,
                    error=None,
                    current_run_id=None,
                    results=[],
                    summary=None,
                )
            return self._status(record, current)

    def is_active(self) -> bool:
        with self._lock:
            return self._record is not None and self._record.state.active

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the benchmark thread has recorded its end; True if it did within ``timeout``."""
        return self._done.wait(timeout)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop a running benchmark and wait for it."""
        if self.is_active():
            self.stop()
        self.wait(timeout)

    # -- planning --------------------------------------------------------------------
    def _plan(self, request: BenchmarkRequest) -> BenchmarkRecord:
        """A new benchmark's record, once every config and every fold checks out."""
        first = [fold_config(request, m, 0, 0) for m in request.entries]
        errors = []
        resolved = []
        for i, config in enumerate(first):
            try:
                resolved.append(self.manager._resolve_paths(config))
            except ConfigError as exc:
                own = request.entries[i].config  # a path the entry sets, else the base config's
                errors += [
                    FieldError(
                        f"models.{i}.config.{e.field}" if e.field in own else f"config.{e.field}", e.message
                    )
                    for e in exc.errors
                ]
        if errors:
            raise ConfigError(list({(e.field, e.message): e for e in errors}.values()))
        n_repeats = first[0].evaluation.n_repeats
        configs = [fold_config(request, m, 0, r) for r in range(n_repeats) for m in request.entries]
        base = configs[0]
        if isinstance(base.data, SyntheticData):
            n_folds = _synthetic_folds(base)
        else:
            cache = self.manager._execution.windows_cache
            try:
                n_folds = self.manager.data_worker.call(
                    "benchmark_folds",
                    field="config.data.paths" if base.data.source == "files" else "config.data.path",
                    configs=configs,
                    root_dir=str(self.manager.root_dir),
                    confine=self.manager.paths.confine,
                    cache_dir=str(cache) if cache is not None else None,
                )
            except ConfigError as exc:  # the fields of the base config, named as the request has them
                raise ConfigError(
                    [
                        FieldError(
                            e.field if e.field.startswith("config.") else f"config.{e.field}", e.message
                        )
                        for e in exc.errors
                    ]
                ) from None
        benchmark_id = BENCHMARK_PREFIX + dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        save_dir = self.manager.paths.resolve(resolved[0].save_dir, "config.save_dir")
        return BenchmarkRecord(
            benchmark_id=benchmark_id,
            state=BenchmarkState.RUNNING,
            request=request,
            protocol=base.evaluation.protocol,
            n_folds=n_folds,
            folder=str(save_dir / "benchmarks" / benchmark_id),
            started_at=now_iso(),
        )

    def _resumable(self, benchmark_id: str) -> BenchmarkRecord:
        with self._lock:
            record = self._record
        if record is None or record.benchmark_id != benchmark_id:
            last = f" (the last is {record.benchmark_id})" if record is not None else ""
            raise ConfigError.field("resume", f"no benchmark {benchmark_id!r} to resume{last}")
        if record.state.active:
            raise AlreadyTrainingError(None, f"benchmark {benchmark_id} is running")
        if record.state is BenchmarkState.COMPLETED:
            raise ConfigError.field("resume", f"benchmark {benchmark_id} has completed; nothing to resume")
        return record.model_copy(deep=True)

    # -- the job ---------------------------------------------------------------------
    def _work(self, record: BenchmarkRecord) -> None:
        state, error = BenchmarkState.COMPLETED, None
        try:
            for repeat in range(record.n_repeats):
                for fold in range(record.n_folds):
                    ran = False
                    for entry in record.request.entries:
                        if record.done(entry.label, fold, repeat):
                            continue
                        if self._stop.is_set():
                            raise _Stopped
                        ran = True
                        if not self._run(record, entry, fold, repeat):
                            raise _Stopped
                    if ran:
                        self._report(record)
        except _Stopped:
            state = BenchmarkState.STOPPED
        except Exception as exc:  # recorded; the server lives on
            log.exception("benchmark %s failed", record.benchmark_id)
            state, error = BenchmarkState.FAILED, f"{type(exc).__name__}: {exc}"
        finally:
            self.manager.release(record.benchmark_id)
            self._report(record)
            with self._lock:
                self._current_run = None
                record.state, record.error, record.finished_at = state, error, now_iso()
                try:
                    self._save(record)
                except OSError:
                    log.exception("could not record benchmark %s", record.benchmark_id)
            self._done.set()

    def _run(self, record: BenchmarkRecord, entry: BenchmarkModel, fold: int, repeat: int) -> bool:
        """One (model, fold, repeat) run to its end; False when the user stopped it."""
        result = BenchmarkResult(
            label=entry.label, model=entry.model, fold=fold, repeat=repeat, run_id=None, state="running"
        )
        with self._lock:
            record.results = [
                r for r in record.results if (r.label, r.fold, r.repeat) != (entry.label, fold, repeat)
            ]
            record.results.append(result)
        try:
            config = fold_config(record.request, entry, fold, repeat)
            run_id = self.manager.start(config, owner=record.benchmark_id).run_id
        except EegtrainError as exc:
            with self._lock:
                result.state, result.error = "failed", str(exc)
                self._save(record)
            return True
        with self._lock:
            result.run_id, self._current_run = run_id, run_id
            self._save(record)
        self.manager.wait()
        status = self.manager.status()
        report = status.test_report
        with self._lock:
            result.state, result.error, result.duration = (
                status.state.value,
                status.error,
                status.elapsed_time,
            )
            if status.state is TrainingState.COMPLETED and report is None:
                result.state, result.error = "failed", "the run has no test report"
            if report is not None:
                result.n_test = report.n
                for key in BENCHMARK_METRICS:
                    setattr(result, key, getattr(report, key))
            self._current_run = None
            self._save(record)
        return status.state is not TrainingState.STOPPED

    def _report(self, record: BenchmarkRecord) -> None:
        """Write the outputs from the runs so far (in the data worker); a failure is logged."""
        with self._lock:
            status = self._status(record, None)
            done = frozenset(r.run_id for r in status.results if r.state == "completed")
            if not done or done == self._reported:  # nothing new since the last report
                return
        configs = [
            fold_config(
                record.request,
                next(m for m in record.request.entries if m.label == r.label),
                r.fold,
                r.repeat,
            )
            for r in status.results
        ]
        cache = self.manager._execution.windows_cache
        try:
            summary = self.manager.data_worker.call(
                "benchmark_report",
                field="benchmark",
                status=status,
                configs=configs,
                folder=record.folder,
                root_dir=str(self.manager.root_dir),
                confine=self.manager.paths.confine,
                cache_dir=str(cache) if cache is not None else None,
            )
        except Exception:
            log.exception("could not write the outputs of benchmark %s", record.benchmark_id)
            return
        with self._lock:
            record.summary, self._reported = summary, done
            self._save(record)

    # -- records ---------------------------------------------------------------------
    def _status(self, record: BenchmarkRecord, current: str | None) -> BenchmarkStatus:
        return BenchmarkStatus(
            benchmark_id=record.benchmark_id,
            state=record.state,
            request=record.request,
            protocol=record.protocol,
            n_folds=record.n_folds,
            n_runs=len(record.request.entries) * record.n_folds * record.n_repeats,
            n_finished=sum(r.state != "running" for r in record.results),
            folder=record.folder,
            started_at=record.started_at,
            finished_at=record.finished_at,
            error=record.error,
            current_run_id=current if record.state.active else None,
            results=[r.model_copy() for r in record.results],
            summary=record.summary,
        )

    def _save(self, record: BenchmarkRecord) -> None:
        files.write_json(self.record_path, record.model_dump(mode="json"))

    def _recover(self) -> BenchmarkRecord | None:
        """The last benchmark; one left active by a process that has gone becomes ``interrupted``
        (its running fold too), its finished runs kept."""
        if not self.record_path.exists():
            return None
        try:
            record = BenchmarkRecord.model_validate(files.read_json(self.record_path))
        except Exception as exc:
            log.warning("could not read the last benchmark: %s", exc)
            return None
        if not record.state.active or _owner_alive(record.owner):
            return record
        record.state, record.finished_at = BenchmarkState.INTERRUPTED, record.finished_at or now_iso()
        record.error = "the process running this benchmark ended before it finished"
        for r in record.results:
            if r.state == "running":
                r.state = "interrupted"
        try:
            self._save(record)
        except OSError as exc:
            log.warning("could not mark benchmark %s interrupted on disk: %s", record.benchmark_id, exc)
        return record


class _Stopped(Exception):
    """The user stopped the benchmark."""
