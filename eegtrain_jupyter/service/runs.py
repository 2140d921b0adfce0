"""Runs on disk: each run's record, the run index, publishing, and recovery after a crash.

``<save_dir>/runs/<run_id>/`` holds ``run.json`` (a :class:`~.schemas.RunRecord` plus the
process that trains it), the history, the best checkpoint and the curves. When a run
*completes*, the three top-level files in ``save_dir`` are replaced by that run's as one set
(:mod:`.publishing`); a stopped or failed run leaves them alone. An index in
``<root_dir>/.eegtrain/runs.json`` (updated under a file lock: a server, the CLI and a kernel
may share a root) lets a restarted process show the last run.

The index is a hint, never trusted with a path: a run's folder is always *derived* as
``<save_dir>/runs/<run_id>`` from a run id that matches :data:`RUN_ID` (:func:`check_run_id`),
and it is used only when it is a real folder (not a symlink) that resolves inside the root
(when the store is confined) and holds that run's ``run.json``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .. import files
from ..config.training import TrainingConfig
from ..engine import artifacts
from ..errors import InsufficientStorage, NotFound
from ..runtime.launcher import processes_per_node
from ..runtime.outcome import Outcome
from ..schemas import Metrics, RunOutcome, RunRecord, TrainingState, empty_history
from .publishing import complete_publish

__all__ = ["RUN_ID", "Run", "RunStore", "check_run_id", "this_process"]

log = logging.getLogger(__name__)

RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")
"""A run id: ``YYYYmmdd-HHMMSS-xxxxxx`` (the start time and six hex digits)."""


def check_run_id(run_id: object) -> str:
    """``run_id`` when it is a well-formed run id, else :class:`~.errors.NotFound`."""
    if isinstance(run_id, str) and RUN_ID.fullmatch(run_id):
        return run_id
    shown = run_id if isinstance(run_id, str) and len(run_id) <= 64 else "..."
    raise NotFound(f"no run {shown!r} (a run id looks like 20240131-142501-3f9a2c)")


class Run:
    """The service's mutable record of one run; the service touches it only under its lock.

    Attributes
    ----------
    outcome : RunOutcome
        What the run is and has produced so far (state, error, best epoch, device, files ...):
        the :class:`~.schemas.RunOutcome` its status and its record share, updated in place as
        its events arrive and when it ends.
    save_dir, run_dir : Path
        Its ``save_dir`` and its folder, ``<save_dir>/runs/<run_id>`` (the outcome's
        ``save_dir``/``run_dir`` as paths).
    history, epoch_times
        Its per-epoch metrics and the seconds each epoch took (its record's, beside the outcome).
    phase, batch, t_start, t_phase, duration, owner, done
        What a live run shows and needs: its phase and batch in flight, its clocks, the process
        training it (kept in ``run.json`` only) and the event set once its end is recorded.
    """

    def __init__(self, run_id: str, config: TrainingConfig, save_dir: Path):
        self.save_dir = save_dir
        self.run_dir = save_dir / "runs" / run_id
        self.outcome = RunOutcome(
            run_id=run_id,
            state=TrainingState.PREPARING,
            config=config,
            save_dir=str(save_dir),
            run_dir=str(self.run_dir),
            started_at=files.now_iso(),
            finished_at=None,
            best_val_acc=None,
            error=None,
            device=None,
            precision=None,
            backbone=None,
            world_size=processes_per_node(config.devices)[0] * config.nnodes,
        )
        self.history = empty_history()
        self.epoch_times: list[float] = []
        self.phase: str | None = None
        self.batch: dict[str, Any] | None = None
        self.t_start = time.monotonic()
        self.t_phase: float | None = None  # when the current phase (or epoch, while training) began
        self.duration: float | None = None  # set when the run ends (or from disk)
        self.owner: dict[str, Any] | None = None  # the process training it (kept in run.json only)
        self.done = threading.Event()  # this run's thread has recorded its end

    @property
    def run_id(self) -> str:
        """The run's id (``YYYYmmdd-HHMMSS-xxxxxx``)."""
        return str(self.outcome.run_id)

    @property
    def config(self) -> TrainingConfig:
        """The run's validated config."""
        return self.outcome.config

    @property
    def state(self) -> TrainingState:
        """The run's state (``outcome.state``)."""
        return self.outcome.state

    def record(self) -> RunRecord:
        """The run as listed and kept in its ``run.json``: its outcome, duration and epochs."""
        return RunRecord(
            **dict(self.outcome),
            duration=self.elapsed(),
            epochs_completed=len(self.history["train_losses"]),
            epoch_times=list(self.epoch_times),
        )

    @classmethod
    def from_record(cls, rec: dict[str, Any], folder: Path) -> Run:
        """Rebuild from the ``run.json`` dict read from the run folder ``folder``.

        The run's folders come from ``folder`` (``<save_dir>/runs/<run_id>``), not from the
        record's ``save_dir``/``run_dir``. Raises ``ValidationError``/``KeyError``/``ValueError``
        when the record is damaged or belongs to another run.
        """
        record = RunRecord.model_validate({k: v for k, v in rec.items() if k != "owner"})
        if record.run_id != folder.name:
            raise ValueError(f"run.json of run {folder.name} names run {record.run_id!r}")
        run = cls(record.run_id, record.config, folder.parent.parent)
        derived = {key: getattr(run.outcome, key) for key in ("save_dir", "run_dir", "world_size")}
        run.outcome = RunOutcome(**{key: getattr(record, key) for key in RunOutcome.model_fields} | derived)
        run.duration = record.duration
        run.epoch_times = list(record.epoch_times)
        run.owner = rec.get("owner")
        hist_path = run.run_dir / artifacts.HISTORY_NAME
        if hist_path.exists():
            doc = files.read_json(hist_path)
            run.history = {k: list(v) for k, v in doc.items() if k in Metrics.model_fields}
            run.history.update({k: list(doc.get(k, [])) for k in empty_history()})
        run.done.set()
        return run

    def end(self, ended: Outcome) -> None:
        """Record how the run ended (its final state, error, files, publish) and when."""
        self.duration = time.monotonic() - self.t_start
        self.phase, self.batch, outcome = None, None, self.outcome
        outcome.state, outcome.error, outcome.finished_at = ended.state, ended.error, files.now_iso()
        outcome.files, outcome.published = dict(ended.files), dict(ended.published)
        outcome.early_stopped = ended.early_stopped

    def save(self, *, sync_dir: bool = True) -> None:
        files.write_json(
            self.run_dir / "run.json", {**self.record().to_json(), "owner": self.owner}, sync_dir=sync_dir
        )

    def elapsed(self) -> float | None:
        if self.state.active:
            return time.monotonic() - self.t_start
        return self.duration

    def eta(self) -> float | None:
        """Seconds left: the rest of the feature caching, then whole epochs (with their writes).

        ``None`` while stopping, before anything was measured, and after the run.
        """
        now = time.monotonic()
        b, spent = self.batch, now - (self.t_phase or now)
        if self.state is TrainingState.PREPARING and b and b["phase"] == "caching features":
            return max(0.0, spent * float(b["n_batches"] - b["batch"]) / float(b["batch"]))
        if self.state is not TrainingState.TRAINING:
            return None
        total, done = self.config.n_epochs, len(self.epoch_times)
        if done:
            per_epoch = sum(self.epoch_times) / done
            return max(0.0, per_epoch * (total - done) - min(spent, per_epoch))
        if b and b["phase"] == "train" and b["batch"]:
            per_epoch = spent * float(b["n_batches"]) / float(b["batch"])
            return max(0.0, per_epoch * total - spent)
        return None


class RunStore:
    """The run index of ``root_dir`` and the runs it lists.

    Parameters
    ----------
    root_dir : Path
        Holds the index, ``.eegtrain/runs.json``.
    confine : bool
        Use only run folders that resolve inside ``root_dir`` (the server sets this); a run
        whose folder does not is treated as unknown.
    """

    def __init__(self, root_dir: Path, *, confine: bool = False):
        self.root_dir = root_dir
        self.confine = confine
        self.index_path = root_dir / ".eegtrain" / "runs.json"

    def read_index(self) -> list[dict[str, str]]:
        """The index's well-formed entries (a valid run id and a ``run_dir`` string), oldest first."""
        try:
            index = files.read_json(self.index_path)
        except (OSError, ValueError):
            return []
        if not isinstance(index, list):
            return []
        return [
            e
            for e in index
            if isinstance(e, dict)
            and isinstance(e.get("run_id"), str)
            and RUN_ID.fullmatch(e["run_id"])
            and isinstance(e.get("run_dir"), str)
        ]

    def add(self, run: Run) -> None:
        """Append ``run`` to the index (read-modify-write under the index's file lock)."""
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.index_path.with_name("runs.lock")):
            index = self.read_index()
            index.append({"run_id": run.run_id, "run_dir": str(run.run_dir)})
            files.write_json(self.index_path, index)

    def folder(self, entry: dict[str, str]) -> Path:
        """The run folder an index entry stands for, derived and checked.

        The folder is ``<save_dir>/runs/<run_id>`` for the entry's (valid) run id, with
        ``save_dir`` taken as the folder two levels above the entry's ``run_dir``: an entry whose
        ``run_dir`` is not of that shape, a folder that is a symlink, and (when confined) one that
        resolves outside the root are refused with :class:`~.errors.NotFound`.
        """
        run_id = check_run_id(entry.get("run_id"))
        listed = Path(entry.get("run_dir", ""))
        if (
            not listed.is_absolute()
            or ".." in listed.parts
            or listed.name != run_id
            or listed.parent.name != "runs"
        ):
            raise NotFound(f"run {run_id!r} has no usable run folder")
        folder = listed.parent.parent / "runs" / run_id
        try:
            usable = not folder.is_symlink() and (
                not self.confine or folder.resolve().is_relative_to(self.root_dir.resolve())
            )
        except (OSError, RuntimeError):  # unreadable parent, a symlink loop
            usable = False
        if not usable:
            raise NotFound(f"run {run_id!r} has no usable run folder")
        return folder

    def load(self, folder: Path) -> Run:
        """The run recorded in ``folder`` (a folder :meth:`folder` derived)."""
        return Run.from_record(files.read_json(folder / "run.json"), folder)

    def records(self, current: Run | None = None) -> list[RunRecord]:
        """Every indexed run, newest first; ``current`` from memory; damaged, deleted or refused
        ones skipped."""
        out = []
        for entry in reversed(self.read_index()):
            if current is not None and entry["run_id"] == current.run_id:
                out.append(current.record())
                continue
            try:
                out.append(self.load(self.folder(entry)).record())
            except (OSError, ValueError, KeyError, TypeError, ValidationError, NotFound):
                continue  # a run folder deleted by the user, a damaged run.json, a refused entry
        return out

    def run_dir(self, run_id: str) -> Path:
        """The folder of the indexed run ``run_id`` (:class:`~.errors.NotFound` when none)."""
        check_run_id(run_id)
        for entry in reversed(self.read_index()):
            if entry["run_id"] == run_id:
                return self.folder(entry)
        raise NotFound(f"no run {run_id!r}")

    def find(self, run_id: str, current: Run | None = None) -> Run:
        """The run ``run_id``: ``current`` when it is that run, else read from its ``run.json``.

        Raises :class:`~.errors.NotFound` when the id is malformed, the run is not indexed, or
        its folder is gone, refused or damaged.
        """
        check_run_id(run_id)
        if current is not None and current.run_id == run_id:
            return current
        folder = self.run_dir(run_id)
        try:
            return self.load(folder)
        except (OSError, ValueError, KeyError, TypeError, ValidationError):
            raise NotFound(f"run {run_id!r} has no readable run.json") from None

    def delete(self, run_id: str) -> Path:
        """Remove ``run_id`` from the index and delete its folder (the caller checks it is not active).

        Only a folder :meth:`folder` derives, holding this run's ``run.json``, is deleted; the
        top-level files a completed run published into ``save_dir`` are left alone.
        """
        import shutil

        check_run_id(run_id)
        with _file_lock(self.index_path.with_name("runs.lock")):
            index = self.read_index()
            entries = [e for e in index if e["run_id"] == run_id]
            if not entries:
                raise NotFound(f"no run {run_id!r}")
            files.write_json(self.index_path, [e for e in index if e["run_id"] != run_id])
        try:
            folder = self.folder(entries[-1])
        except NotFound:  # an entry naming no usable folder: only the entry goes
            return Path(entries[-1]["run_dir"])
        try:
            owned = files.read_json(folder / "run.json").get("run_id") == run_id
        except (OSError, ValueError, AttributeError):
            owned = False
        if owned:
            shutil.rmtree(folder, ignore_errors=True)
        return folder

    def recover(self) -> Run | None:
        """The last run, after putting every run a dead process left active right.

        A run left active by a process that has gone (killed, crashed, power cut) becomes
        ``interrupted`` on disk; its interrupted publish is completed and its temp files removed.
        A run another live process is training (a second server, the CLI, a kernel on the same
        root) is left alone and not returned.
        """
        index = self.read_index()
        last: Run | None = None
        for i, entry in enumerate(index):
            is_last = i == len(index) - 1
            try:
                folder = self.folder(entry)
                rec = files.read_json(folder / "run.json")
                if not (is_last or TrainingState(rec["state"]).active):
                    continue
                run = Run.from_record(rec, folder)
            except (OSError, ValueError, KeyError, TypeError, ValidationError, NotFound) as exc:
                if is_last:
                    log.warning("could not recover the last training run: %s", exc)
                continue
            if run.state.active and _owner_alive(run.owner):
                log.info("run %s is being trained by process %s", run.run_id, (run.owner or {}).get("pid"))
                continue
            if run.state.active:
                self._mark_interrupted(run)
            if is_last:
                last = run
        return last

    def _mark_interrupted(self, run: Run) -> None:
        run.outcome.state = TrainingState.INTERRUPTED
        run.outcome.error = "the process running this training ended before it finished"
        published = complete_publish(run.save_dir)
        if published:
            run.outcome.published = published
            run.outcome.error = "the process ended while publishing this run's files; recovery completed it"
        for folder in (run.run_dir, run.save_dir):
            files.remove_orphan_temp_files(folder)
        try:
            run.save()
        except (OSError, InsufficientStorage) as exc:  # a read-only or full root still shows the run
            log.warning("could not mark run %s interrupted on disk: %s", run.run_id, exc)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock between processes (POSIX ``flock``; a no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def this_process() -> dict[str, Any]:
    """Who trains a run: host, pid and the process's start time (so a reused pid is not mistaken)."""
    import psutil

    try:
        started = psutil.Process().create_time()
    except psutil.Error:
        started = None
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": started}


def _owner_alive(owner: Any) -> bool:
    """True when ``owner`` is another process on this host that is still running."""
    import psutil

    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        return False
    pid, started = owner.get("pid"), owner.get("started")
    if not isinstance(pid, int) or pid == os.getpid() or not isinstance(started, (int, float)):
        return False
    try:
        return abs(psutil.Process(pid).create_time() - started) < 1.0
    except psutil.Error:
        return False
