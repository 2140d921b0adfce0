"""SearchManager: hyper-parameter search with Optuna, one trial after another through the one
:class:`~eegtrain_jupyter.service.manager.TrainingManager`.

A search holds the trainer for its whole length (:meth:`TrainingManager.reserve`): starting a run
or another search meanwhile is a 409, and ``POST /training/stop`` ends the search at once (the
running trial is stopped and marked ``stopped``; finished trials are kept). Each trial is an
ordinary run (its own run folder, run record and TensorBoard events) whose validation metric is
reported to Optuna after every epoch; the median pruner stops a trial that falls behind.

Optuna's studies live in the journal file ``<root>/.eegtrain/optuna-journal.log``
(:class:`optuna.storages.JournalStorage`: an append-only log, a few times cheaper per report than
SQLite, where a trial's per-epoch reports cost more than its epochs), so ``optuna-dashboard
<root>/.eegtrain/optuna-journal.log`` shows them; each study is named after its search id (a
search whose record names an SQLite URL is read from that database). The search
record (``search.json`` beside it) says who runs it; after a crash or restart a search whose
process is gone is shown as ``interrupted``, its finished trials kept.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from .. import files
from ..config.search import SearchRequest, parse_request, suggest, trial_config
from ..engine.events import EpochResult, StopRequested, TrainingListener
from ..errors import EegtrainError, soft_import
from ..files import now_iso
from ..schemas import SEARCH_PREFIX, BestTrial, SearchState, SearchStatus, TrainingState, TrialInfo
from .runs import _owner_alive, this_process

if TYPE_CHECKING:
    import optuna

    from .manager import TrainingManager

__all__ = ["SearchManager", "SearchRecord"]

log = logging.getLogger(__name__)

WARMUP_EPOCHS = 1
"""Epochs every trial finishes before the median pruner may judge it: after one epoch a fresh
head's validation score says more about its initialisation than about its hyper-parameters."""


class SearchRecord(BaseModel):
    """``<root>/.eegtrain/search.json``: the last search and the process running it."""

    model_config = ConfigDict(extra="forbid")

    search_id: str
    state: SearchState
    request: SearchRequest
    storage: str
    started_at: str
    finished_at: str | None = None
    error: str | None = None
    owner: dict[str, Any] | None = None


class _TrialReporter(TrainingListener):
    """Reports each epoch's validation metric to the trial; a pruned trial stops its run."""

    def __init__(self, trial: optuna.trial.Trial, metric: str, prune: bool):
        self.trial, self.metric, self.prune = trial, metric, prune
        self.pruned = False

    def on_epoch_end(self, result: EpochResult, history: dict[str, list[float]]) -> None:
        if self.pruned:  # an epoch that ended before the stop reached the worker is not judged
            return
        self.trial.report(result.val_acc if self.metric == "val_acc" else result.val_loss, result.epoch)
        if self.prune and self.trial.should_prune():
            self.pruned = True
            raise StopRequested  # the engine ends the run as stopped, finished epochs kept


def make_pruner(name: str) -> Any:
    """The Optuna pruner a search request names: ``"median"`` or ``"none"``.

    The median pruner judges a trial from its first epoch after :data:`WARMUP_EPOCHS`, once two
    trials have completed, against the median of the completed trials at the same epoch.
    """
    optuna = _optuna()
    if name == "none":
        return optuna.pruners.NopPruner()
    # a trial reports epoch e (1-based) as step e, and Optuna may prune at any step >=
    # n_warmup_steps: the first prunable epoch is the one after the warm-up
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=WARMUP_EPOCHS + 1)


def _optuna() -> Any:
    return soft_import("optuna", "hyper-parameter search", "search")


class SearchManager:
    """Runs at most one search at a time on ``manager``'s trainer (see the module docstring).

    Parameters
    ----------
    manager : TrainingManager
        The trainer every trial runs on; its root holds the Optuna storage.
    """

    def __init__(self, manager: TrainingManager):
        self.manager = manager
        folder = manager.root_dir / ".eegtrain"
        self.journal_path = folder / "optuna-journal.log"
        self.record_path = folder / "search.json"
        self.storage_url = str(self.journal_path)
        self._storages: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._done.set()
        self._current_run: str | None = None
        self._record: SearchRecord | None = self._recover()

    # -- public API ------------------------------------------------------------------
    def start(self, body: dict[str, Any] | None) -> SearchStatus:
        """Validate the request (every bad part named) and start the search in the background.

        Raises
        ------
        ConfigError
            A bad request, base config or space (400).
        AlreadyTrainingError
            A run or a search is active (409).
        MissingDependency
            Optuna is not installed (501).
        """
        request = parse_request(body)
        optuna = _optuna()
        search_id = SEARCH_PREFIX + dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        with self._lock:
            self.manager.reserve(search_id, self._stop.set)
            try:
                self.journal_path.parent.mkdir(parents=True, exist_ok=True)
                seed = request.seed if request.seed is not None else trial_config(request, {}).seed
                pruner = make_pruner(request.pruner)
                study = optuna.create_study(
                    storage=self._get_storage(self.storage_url),
                    study_name=search_id,
                    direction=request.resolved_direction,
                    pruner=pruner,
                    sampler=optuna.samplers.TPESampler(seed=seed),
                )
                record = SearchRecord(
                    search_id=search_id,
                    state=SearchState.RUNNING,
                    request=request,
                    storage=self.storage_url,
                    started_at=now_iso(),
                    owner=this_process(),
                )
                self._save(record)
            except BaseException:
                self.manager.release(search_id)
                raise
            self._record = record
            self._stop.clear()
            self._done.clear()
            self._thread = threading.Thread(
                target=self._work, args=(record, study), daemon=True, name=f"eegsearch-{search_id}"
            )
            self._thread.start()
            return self.status()

    def stop(self) -> SearchStatus:
        """End the search: the running trial stops within a batch (marked ``stopped``)."""
        self.manager.stop()  # calls self._stop.set through the reservation
        return self.status()

    def status(self) -> SearchStatus:
        """The current/last search with its trials (from Optuna's storage) and the best so far."""
        with self._lock:
            record, current = self._record, self._current_run
        if record is None:
            return SearchStatus(
                search_id=None,
                state=SearchState.IDLE,
                request=None,
                storage=None,
                direction=None,
                started_at=None,
                finished_at=None,
                error=None,
                current_run_id=None,
                n_finished=0,
                trials=[],
                best=None,
            )
        trials = self._trials(record)
        finished = [t for t in trials if t.state == "complete" and t.value is not None]
        best = None
        if finished:
            pick = max if record.request.resolved_direction == "maximize" else min
            top = pick(finished, key=lambda t: t.value or 0.0)
            best = BestTrial(
                number=top.number,
                value=top.value or 0.0,
                params=top.params,
                run_id=top.run_id,
                config=trial_config(record.request, top.params),
            )
        return SearchStatus(
            search_id=record.search_id,
            state=record.state,
            request=record.request,
            storage=record.storage,
            direction=record.request.resolved_direction,
            started_at=record.started_at,
            finished_at=record.finished_at,
            error=record.error,
            current_run_id=current if record.state.active else None,
            n_finished=sum(t.state not in ("running",) for t in trials),
            trials=trials,
            best=best,
        )

    def is_active(self) -> bool:
        with self._lock:
            return self._record is not None and self._record.state.active

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the search thread has recorded its end; True if it did within ``timeout``."""
        return self._done.wait(timeout)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop a running search and wait for it."""
        if self.is_active():
            self.stop()
        self.wait(timeout)

    # -- internals -------------------------------------------------------------------
    def _get_storage(self, url: str) -> Any:
        """The Optuna storage of a search record: a journal file, or an SQLite URL (older records)."""
        if url not in self._storages:
            optuna = _optuna()
            if url.startswith("sqlite:"):
                self._storages[url] = optuna.storages.RDBStorage(url)
            else:
                from optuna.storages.journal import JournalFileBackend

                self._storages[url] = optuna.storages.JournalStorage(JournalFileBackend(url))
        return self._storages[url]

    def _save(self, record: SearchRecord) -> None:
        files.write_json(self.record_path, record.model_dump(mode="json"))

    def _work(self, record: SearchRecord, study: optuna.Study) -> None:
        request, t0 = record.request, time.monotonic()
        state, error = SearchState.COMPLETED, None
        try:
            for _ in range(request.n_trials):
                if self._stop.is_set():
                    state = SearchState.STOPPED
                    break
                if request.timeout_s is not None and time.monotonic() - t0 >= request.timeout_s:
                    break
                if not self._run_trial(record, study):
                    state = SearchState.STOPPED
                    break
        except Exception as exc:  # recorded; the server lives on
            log.exception("search %s failed", record.search_id)
            state, error = SearchState.FAILED, f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                self.manager.release(record.search_id)
                self._current_run = None
                record.state, record.error, record.finished_at = state, error, now_iso()
                try:
                    self._save(record)
                except OSError:
                    log.exception("could not record search %s", record.search_id)
            self._done.set()

    def _run_trial(self, record: SearchRecord, study: optuna.Study) -> bool:
        """One trial from ask to tell; False when the user stopped the search during it."""
        optuna = _optuna()
        fail = optuna.trial.TrialState.FAIL
        trial = study.ask()
        params = suggest(trial, record.request.space)
        reporter = _TrialReporter(trial, record.request.metric, record.request.pruner == "median")
        try:
            config = trial_config(record.request, params)
            run_id = self.manager.start(config, listeners=[reporter], owner=record.search_id).run_id
        except EegtrainError as exc:
            trial.set_user_attr("error", str(exc))
            study.tell(trial, state=fail)
            return True
        trial.set_user_attr("run_id", run_id)
        with self._lock:
            self._current_run = run_id
        self.manager.wait()
        status = self.manager.status()
        if reporter.pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif status.state is TrainingState.COMPLETED and status.best_val_acc is not None:
            losses = status.history.val_losses
            value = status.best_val_acc if record.request.metric == "val_acc" else min(losses)
            study.tell(trial, value)
        else:
            stopped = status.state is TrainingState.STOPPED
            trial.set_user_attr("state", "stopped" if stopped else "fail")
            trial.set_user_attr("error", status.error or ("stopped by the user" if stopped else "no result"))
            study.tell(trial, state=fail)
            return not stopped
        return True

    def _trials(self, record: SearchRecord) -> list[TrialInfo]:
        try:
            optuna = _optuna()
            study = optuna.load_study(study_name=record.search_id, storage=self._get_storage(record.storage))
            frozen = study.get_trials(deepcopy=False)
        except Exception as exc:  # a deleted or damaged database still shows the record
            log.warning("cannot read the trials of search %s: %s", record.search_id, exc)
            return []
        out = []
        for t in frozen:
            state = str(t.user_attrs.get("state") or t.state.name.lower())
            out.append(
                TrialInfo(
                    number=t.number,
                    state=state,
                    params=dict(t.params),
                    value=t.value,
                    run_id=t.user_attrs.get("run_id"),
                    error=t.user_attrs.get("error"),
                )
            )
        return out

    def _recover(self) -> SearchRecord | None:
        """The last search; one left active by a process that has gone becomes ``interrupted``
        (its running trial too), its finished trials kept."""
        if not Path(self.record_path).exists():
            return None
        try:
            record = SearchRecord.model_validate(files.read_json(self.record_path))
        except Exception as exc:
            log.warning("could not read the last search: %s", exc)
            return None
        if not record.state.active or _owner_alive(record.owner):
            return record
        record.state, record.finished_at = SearchState.INTERRUPTED, record.finished_at or now_iso()
        record.error = "the process running this search ended before it finished"
        try:
            optuna = _optuna()
            study = optuna.load_study(study_name=record.search_id, storage=self._get_storage(record.storage))
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
                study._storage.set_trial_user_attr(t._trial_id, "state", "interrupted")
                study.tell(t.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
            self._save(record)
        except Exception as exc:  # the record still says interrupted
            log.warning("could not mark search %s interrupted on disk: %s", record.search_id, exc)
        return record
