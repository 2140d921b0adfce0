"""Recorded runs, as the service offers them: list, compare, detail, files, predict, export, delete.

:class:`RecordedRuns` reads finished runs, and the current one, for
:class:`~.manager.TrainingManager` (which owns it and starts and stops runs). The work itself is
in :mod:`.runs` (records on disk), :mod:`.compare` and :mod:`.serving` (prediction, export).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import Conflict
from ..schemas import Comparison, Deleted, Evaluation, ExportResult, Prediction, RunDetail, RunRecord
from .compare import RunQuery, compare_runs, select
from .runs import Run, RunStore
from .serving import RunServing

__all__ = ["RecordedRuns"]


class RecordedRuns:
    """Reading and using recorded runs.

    Parameters
    ----------
    store : RunStore
        The runs on disk.
    serving : RunServing
        Details, downloads, prediction and export of one run.
    lock : threading.RLock
        The owner's lock, under which ``current()`` and its record may be read.
    current : callable
        The owner's current run (kept in memory while it trains), or None.
    on_delete : callable
        Told the id of each run deleted, so the owner can drop it as its current run.
    """

    def __init__(
        self,
        store: RunStore,
        serving: RunServing,
        lock: threading.RLock,
        current: Callable[[], Run | None],
        on_delete: Callable[[str], None],
    ):
        self.store, self.serving, self._lock = store, serving, lock
        self._current, self._on_delete = current, on_delete

    def runs(self, query: Mapping[str, str] | None = None) -> list[RunRecord]:
        """Every recorded run, newest first; or filtered and sorted by ``query`` (the query
        arguments of ``GET /training/runs``: state, model, job, sort, order, limit; see
        :class:`~.compare.RunQuery`; a bad one is a ConfigError naming it)."""
        parsed = RunQuery.parse(query) if query else None
        with self._lock:
            records = self.store.records(self._current())
        return select(records, parsed) if parsed is not None else records

    def compare(self, run_ids: str | Sequence[str] | None) -> Comparison:
        """Runs side by side (``"a,b,c"`` or a list of ids); see :func:`~.compare.compare_runs`."""
        with self._lock:
            return compare_runs(self.store, self._current(), run_ids)

    def run(self, run_id: str) -> RunDetail:
        """One run in full: record, history, checkpoint and test metrics, model card, files (404 when unknown)."""
        with self._lock:  # the current run's record and history change under this lock
            return self.serving.detail(self._find(run_id))

    def run_file(self, run_id: str, name: str) -> Path:
        """The path of one of the run's own files (``name`` as listed in ``RunDetail.downloads``)."""
        return self.serving.file(self._find(run_id), name)

    def open_run_file(self, run_id: str, name: str) -> BinaryIO:
        """One of the run's own files, open for reading (a symlink is refused: 404)."""
        return self.serving.open_file(self._find(run_id), name)

    def predict(self, run_id: str, request: dict[str, Any] | None) -> Prediction:
        """Per-window probabilities and labels from the run's best checkpoint (409 when it has none yet)."""
        return self.serving.predict(self._find(run_id), request)

    def evaluate(self, run_id: str, request: dict[str, Any] | None) -> Evaluation:
        """The run's best checkpoint scored on labelled recordings (409 when it has none yet)."""
        return self.serving.evaluate(self._find(run_id), request)

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
            self._on_delete(run_id)
        return Deleted(run_id=run_id, run_dir=str(run_dir), deleted=not run_dir.exists())

    def _find(self, run_id: str) -> Run:
        with self._lock:
            return self.store.find(run_id, self._current())
