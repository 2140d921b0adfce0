"""The supervisor side of a training worker: start it, relay its events, stop it, explain its end.

:func:`supervise` runs in the service's one trainer thread. It starts :mod:`.worker` in a child
process and turns the worker's messages back into :class:`~.events.TrainingListener` calls on the
listeners it was given (the service's run record, a CLI bar, a test's recorder), in this process,
one event at a time: the worker waits for each answer, so a listener that is slow slows the
loop, one that raises fails the run with its error, and a stop lands within one batch.

Workers are forked from a :mod:`multiprocessing` **fork server** that has imported torch,
braindecode and the engine once (the first run pays that import; later ones start in a fraction
of a second). The fork server and the workers never touch CUDA in the server's process; the
server only ever reads JSON from a pipe, so its memory stays where it was when the run began.

Stopping: a stop message; after ``grace[0]`` seconds SIGTERM; after ``grace[1]`` more, SIGKILL.
The worker writes every file atomically, so the outputs are valid after each step.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from ..engine.artifacts import CHECKPOINT_NAME
from ..engine.events import EpochResult, StopRequested, TrainingListener, TrainingResult
from ..files import remove_orphan_temp_files
from ..models.info import BackboneInfo
from .launcher import WorkerSession, start_worker
from .relay import decode, encode
from .worker import FAULT_ENV

__all__ = ["LOG_NAME", "Outcome", "describe_exit", "fork_server_end", "supervise"]

log = logging.getLogger(__name__)

LOG_NAME = "worker.log"
"""The worker's stdout and stderr, in the run folder."""


@dataclass
class Outcome:
    """How a worker's run ended.

    ``result`` is set when the engine returned (completed or stopped); ``error`` when the run
    failed (the engine raised, a listener here raised, or the worker died: signal or exit code
    and its last log lines); ``stopped`` when a stop was asked for and the run ended without an
    error (gracefully or by SIGTERM/SIGKILL).
    """

    result: TrainingResult | None = None
    error: str | None = None
    stopped: bool = False
    exitcode: int | None = None
    pid: int | None = None
    escalation: list[str] = field(default_factory=list)


class LazyCheckpoint(Mapping[str, Any]):
    """``on_best``'s checkpoint for listeners here: the file the worker just wrote, read on first use."""

    def __init__(self, path: Path):
        self.path = path
        self._data: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._data is None:
            import torch

            self._data = torch.load(self.path, map_location="cpu", weights_only=True)
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def _tail(path: Path, n: int = 5, width: int = 200) -> list[str]:
    """The last ``n`` lines of the worker's log; after a fatal error, its first ``n`` from there."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - 16384))
            text = fh.read().decode(errors="replace")
    except OSError:
        return []
    lines = [
        line.strip()[:width]
        for line in text.splitlines()
        if line.strip() and not line.startswith("Extension modules:")
    ]
    fatal = [i for i, line in enumerate(lines) if line.startswith("Fatal Python error")]
    if not fatal:
        return lines[-n:]
    current = [i for i, line in enumerate(lines) if i > fatal[-1] and line.startswith("Current thread")]
    start = current[0] + 1 if current else fatal[-1] + 1  # the crashing thread's innermost frames
    return [lines[fatal[-1]], *lines[start : start + n - 1]]


def _signal_cause(sig: int) -> str:
    """``was killed by signal 9 (SIGKILL): ...`` with what that signal usually means."""
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = "unknown signal"
    cause = f"was killed by signal {sig} ({name})"
    if sig == signal.SIGKILL:
        cause += ": possibly out of memory (the kernel's out-of-memory killer), or kill -9"
    elif sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL):
        cause += ": a crash in native code"
    return cause


def fork_server_end() -> str | None:
    """How :mod:`multiprocessing`'s fork server ended (``"was killed by signal 9 ..."``), or
    ``None`` while it runs or when there is none.

    The fork server reports each worker's exit status; when it is gone, a worker's status is
    lost and :mod:`multiprocessing` reports exit code 255 for it. The fork server's own end is
    read with ``WNOWAIT``, so :mod:`multiprocessing` still reaps it (and starts a new one).
    """
    from multiprocessing import forkserver

    pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    if not isinstance(pid, int) or not hasattr(os, "waitid"):
        return None
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # already reaped: it ended, how is no longer known
        return "ended"
    if info is None:
        return None
    if info.si_code in (os.CLD_KILLED, os.CLD_DUMPED):
        return _signal_cause(info.si_status)
    return f"exited with code {info.si_status}"


def describe_exit(exitcode: int | None, pid: int | None, log_path: Path) -> str:
    """Why the worker ended before its run did, with the last lines of its log.

    ``WorkerDied: the training worker (pid N) was killed by signal 9 (SIGKILL): possibly out
    of memory ...; last lines of worker.log: ...``. A negative ``exitcode`` is a signal. Exit
    code 255 from a forked worker whose fork server has gone means the fork server died (its
    end is named); the log is named by its file name (it is in the run folder).
    """
    server_end = fork_server_end() if exitcode == 255 else None
    if exitcode is not None and exitcode < 0:
        cause = _signal_cause(-exitcode)
    elif server_end is not None:
        cause = (
            f"was lost: the fork server that started it {server_end}, "
            "so the worker's own exit status is unknown"
        )
    else:
        cause = f"exited with code {exitcode}"
    tail = _tail(log_path)
    where = f"; last lines of {log_path.name}: " + " | ".join(tail) if tail else ""
    return f"WorkerDied: the training worker (pid {pid}) {cause} before the run ended{where}"


class _Dispatch:
    """Turns worker messages into listener calls and answers them."""

    def __init__(
        self, conn: Any, listeners: Sequence[TrainingListener], stop_event: threading.Event, run_dir: Path
    ):
        self.conn, self.listeners, self.stop_event, self.run_dir = conn, listeners, stop_event, run_dir
        self.result: TrainingResult | None = None
        self.error: str | None = None  # the engine's, as the worker reported it
        self.listener_error: str | None = None
        self.listener_stop = False  # a listener raised StopRequested

    def _call(self, name: str, /, *args: Any, **kwargs: Any) -> None:
        for listener in self.listeners:
            getattr(listener, name)(*args, **kwargs)

    def handle(self, msg: dict[str, Any]) -> None:
        kind = msg.pop("event", None)
        if kind == "error":
            self.error = msg.get("error") or "the worker failed"
            return
        try:
            self._deliver(kind, msg)
        except StopRequested:  # a listener ends the run as stopped (a search pruning its trial)
            self.listener_stop = True
            self.reply({"ack": True, "stop": True, "stop_now": True})
            return
        except Exception as exc:  # a listener here raised: the run fails with its error
            log.exception("a training listener raised on %s", kind)
            self.listener_error = f"{type(exc).__name__}: {exc}"
            self.reply({"abort": self.listener_error})
            return
        self.reply({"ack": True, "stop": self.stop_event.is_set() or self.listener_stop})

    def reply(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # the worker is gone; its exit is handled by the caller
            self.conn.send_bytes(encode(message))

    def _deliver(self, kind: str | None, msg: dict[str, Any]) -> None:
        if kind == "phase":
            self._call("on_phase", msg["phase"])
        elif kind == "model":
            self._call("on_model", **msg)
        elif kind == "setup":
            self._call(
                "on_setup",
                device=msg["device"],
                precision=msg["precision"],
                backbone=BackboneInfo(**msg["backbone"]),
                n_train=msg["n_train"],
                n_val=msg["n_val"],
                precision_reason=msg.get("precision_reason", ""),
            )
        elif kind == "batch":
            self._call("on_batch", **msg)
        elif kind == "best":
            self._call(
                "on_best", EpochResult(**msg["result"]), LazyCheckpoint(self.run_dir / CHECKPOINT_NAME)
            )
        elif kind == "epoch_end":
            self._call("on_epoch_end", EpochResult(**msg["result"]), msg["history"])
        elif kind == "split":
            self._call("on_split", msg["split"])
        elif kind == "test":
            self._call("on_test", msg["report"])
        elif kind == "end":
            data = msg["result"]
            self.result = TrainingResult(**{**data, "backbone": BackboneInfo(**data["backbone"])})
            self._call("on_end", self.result)
        else:
            raise ValueError(f"unknown worker event {kind!r}")


def supervise(
    config: Any,
    run_dir: Path,
    listeners: Sequence[TrainingListener],
    stop_event: threading.Event,
    *,
    thread_settings: Mapping[str, int | None] | None = None,
    grace: tuple[float, float] = (10.0, 5.0),
    on_start: Any = None,
    feature_cache: Path | None = None,
    windows_cache: Path | None = None,
    root_dir: Path | None = None,
    confine: bool = False,
    batch_interval: float = 0.0,
    session: WorkerSession | None = None,
    light_outputs: bool = False,
    tensorboard_dir: Path | None = None,
) -> Outcome:
    """Train ``config`` in a worker process (or a torchrun job) writing into ``run_dir``.

    Parameters
    ----------
    config : TrainingConfig
        The run's validated config (paths already resolved).
    run_dir : Path
        The run folder: outputs, and the worker's ``worker.log``.
    listeners : sequence of TrainingListener
        Called here, in order, for every engine event of the worker (the leader, with several).
    stop_event : threading.Event
        Set to stop: the worker ends within one batch; else SIGTERM after ``grace[0]`` s,
        SIGKILL after ``grace[1]`` s more.
    thread_settings : mapping or None
        :func:`~.tuning.configure_training_thread` arguments for the worker (None: torch's own).
    on_start : callable, optional
        Called with the worker's pid (torchrun's, for a job) once it runs.
    feature_cache : Path, optional
        Folder of the :class:`~.feature_cache.FeatureCache` the worker's engine uses.
    windows_cache : Path, optional
        Folder of the :mod:`~.windows_cache` the worker reads a ``files``/``epochs`` source through.
    root_dir, confine : Path, bool
        The :class:`~.paths.PathPolicy` the worker resolves the config's data paths with.
    batch_interval : float
        Least seconds between two batch events relayed here (0: every batch; the run's first
        always comes). A search's trials use it: on cached features a batch takes a fraction of a
        millisecond, a relayed event (a round trip between two processes) about as much or more.
    session : WorkerSession, optional
        Train in the session's worker (forked on its first run): a run that ends with its
        ``end`` event leaves the worker running for the session's next run. A session's worker
        (a search's trials) relays its events pipelined (:mod:`.relay`): it does not wait for
        each answer, so these listeners run while it trains on.
    light_outputs : bool
        No curves PNG, the checkpoint throttled from the start (:func:`~.engine.train`).
    tensorboard_dir : Path, optional
        The worker writes the run's TensorBoard events there (when ``tensorboard`` is installed).

    Returns
    -------
    Outcome
    """
    log_path = run_dir / LOG_NAME
    spec = {
        "config": config.model_dump(),
        "run_dir": str(run_dir),
        "log_path": str(log_path),
        "env": dict(os.environ),
        "fault": os.environ.get(FAULT_ENV),
        "thread_settings": None if thread_settings is None else dict(thread_settings),
        "feature_cache": None if feature_cache is None else str(feature_cache),
        "windows_cache": None if windows_cache is None else str(windows_cache),
        "root_dir": None if root_dir is None else str(root_dir),
        "confine": confine,
        "batch_interval": batch_interval,
        "light_outputs": light_outputs,
        "tensorboard_dir": None if tensorboard_dir is None else str(tensorboard_dir),
    }
    worker = start_worker(config, spec, log_path, f"eegtrain-worker-{run_dir.name}", session)
    kept = False  # the run ended with its end event and the session's worker waits for the next
    outcome = Outcome(pid=worker.pid)
    if on_start is not None:
        on_start(worker.pid)
    dispatch: _Dispatch | None = None
    stop_sent = term_sent = None
    conn_open = True
    try:
        while True:
            now = time.monotonic()
            conn = worker.accept() if conn_open else None
            if conn is not None and dispatch is None:
                dispatch = _Dispatch(conn, listeners, stop_event, run_dir)
            asked = dispatch is not None and (dispatch.listener_error or dispatch.listener_stop)
            if stop_event.is_set() or asked:
                if stop_sent is None:
                    if dispatch is not None:
                        dispatch.reply({"stop": True})
                    stop_sent = now
                elif term_sent is None and now - stop_sent > grace[0]:
                    outcome.escalation.append("SIGTERM")
                    worker.terminate()
                    term_sent = now
                elif (
                    term_sent is not None
                    and now - term_sent > grace[1]
                    and "SIGKILL" not in outcome.escalation
                ):
                    outcome.escalation.append("SIGKILL")
                    worker.kill()
            exited = worker.exitcode() is not None
            if conn is not None and dispatch is not None and conn_open:
                try:
                    if wait([conn], timeout=0 if exited else 0.05):
                        dispatch.handle(decode(conn.recv_bytes()))
                        if (
                            session is not None
                            and dispatch.result is not None
                            and not dispatch.listener_error
                        ):
                            kept = not exited and session.keep(worker)
                            if kept:
                                break  # the run is over; the worker waits for the session's next
                        continue  # drain what it sent before it ended
                except (EOFError, OSError):
                    conn_open = False
                    continue
            elif not exited:
                time.sleep(0.05)
            if exited:
                break
    finally:
        if outcome.escalation:
            log.warning(
                "training worker %s did not stop on request; sent %s",
                worker.pid,
                " then ".join(outcome.escalation),
            )
        if kept:
            pass
        elif session is not None:
            session.discard(worker)
        else:
            worker.close()  # kills it if this thread is being torn down: never leave a worker behind
        outcome.exitcode = worker.exitcode()
        remove_orphan_temp_files(run_dir)  # of a write the worker's end cut short
    if dispatch is not None:
        outcome.result = dispatch.result
    if dispatch is not None and dispatch.listener_error:
        outcome.error = dispatch.listener_error
    elif dispatch is not None and dispatch.error:
        outcome.error = dispatch.error
    elif outcome.result is not None:
        outcome.stopped = outcome.result.stopped
    elif stop_event.is_set() or (dispatch is not None and dispatch.listener_stop):
        outcome.stopped = True  # ended by SIGTERM/SIGKILL after the stop message
    else:
        outcome.error = describe_exit(outcome.exitcode, outcome.pid, log_path)
    return outcome
