"""How one run ended, as the runtime hands it to the service.

The chain of a run's ending, one shape per layer:

- :class:`~..engine.events.TrainingResult`: what :func:`~..engine.training.train` returned
  (history, best epoch, files, whether it was stopped);
- :class:`Outcome` (here): the run's final state (completed, stopped or failed), the error that
  failed it, its files, the engine's result when it returned, and how its worker process ended;
- :class:`~..schemas.RunOutcome`: what the service keeps and serves (its run record and
  status), built from the run's events and its :class:`Outcome`.

:class:`Runtime` is what executes one run for the service and returns its :class:`Outcome`:
:func:`~.supervisor.supervise` (a worker process, or a torchrun job), or a test's fake that
emits a few events without forking a worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..engine.artifacts import output_files
from ..engine.events import TrainingListener, TrainingResult
from ..schemas import TrainingState

if TYPE_CHECKING:
    from .launcher import WorkerSession
    from .protocol import WorkerSpec

__all__ = ["Outcome", "Runtime", "files_on_disk"]


def files_on_disk(run_dir: Path) -> dict[str, str]:
    """The run's outputs by kind (``checkpoint``, ``history``, ``curves``) that exist in ``run_dir``
    (the checkpoint under either of its names)."""
    return output_files(run_dir)


@dataclass(frozen=True)
class Outcome:
    """How a run ended.

    Attributes
    ----------
    state : TrainingState
        ``completed``, ``stopped`` (a stop was asked for and the run ended without an error:
        the engine returned, or its worker ended by SIGTERM/SIGKILL) or ``failed``.
    result : TrainingResult, optional
        What the engine returned (completed or stopped); ``None`` when it did not return, or
        the run failed before its outputs were published.
    error : str, optional
        Why a failed run failed: the engine raised, a listener raised, the worker died (signal
        or exit code and its last log lines), or its outputs could not be published.
    files : dict of str to str
        The run's own outputs by kind, in its run folder.
    published : dict of str to str
        The top-level files a completed run replaced in ``save_dir`` (set by the service when it
        publishes the run).
    pid, exitcode : int, optional
        The worker process that trained the run and its exit code (``None`` for a run trained
        in the caller's thread, and for a session's worker kept for its next run).
    escalation : tuple of str
        The signals a stop needed beyond its message (``SIGTERM``, then ``SIGKILL``).
    """

    state: TrainingState
    result: TrainingResult | None = None
    error: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    published: dict[str, str] = field(default_factory=dict)
    pid: int | None = None
    exitcode: int | None = None
    escalation: tuple[str, ...] = ()

    @property
    def early_stopped(self) -> bool:
        """The run ended before ``n_epochs`` because validation stopped improving."""
        return bool(self.result is not None and self.result.early_stopped)

    @classmethod
    def ended(
        cls,
        result: TrainingResult | None,
        run_dir: Path,
        *,
        pid: int | None = None,
        exitcode: int | None = None,
        escalation: tuple[str, ...] = (),
    ) -> Outcome:
        """A run that ended without an error: ``completed``, or ``stopped`` when the engine says so
        or did not return (its worker ended after a stop); its files from ``result``, else those
        on disk."""
        state = TrainingState.STOPPED if result is None or result.stopped else TrainingState.COMPLETED
        files = dict(result.files) if result is not None else files_on_disk(run_dir)
        return cls(state, result, None, files, {}, pid, exitcode, escalation)

    @classmethod
    def failed(
        cls,
        error: str,
        run_dir: Path,
        *,
        pid: int | None = None,
        exitcode: int | None = None,
        escalation: tuple[str, ...] = (),
    ) -> Outcome:
        """A run that failed with ``error``; its files are those on disk."""
        return cls(TrainingState.FAILED, None, error, files_on_disk(run_dir), {}, pid, exitcode, escalation)


class Runtime(Protocol):
    """Executes one run: trains ``spec``, calls ``listeners`` with its engine events in this
    thread, honours ``stop_event`` and says how the run ended. :func:`~.supervisor.supervise`
    documents the parameters (and is the service's runtime)."""

    def __call__(
        self,
        spec: WorkerSpec,
        listeners: Sequence[TrainingListener],
        stop_event: threading.Event,
        *,
        session: WorkerSession | None = None,
        grace: tuple[float, float] = (10.0, 5.0),
        on_start: Callable[[int | None], None] | None = None,
    ) -> Outcome: ...
