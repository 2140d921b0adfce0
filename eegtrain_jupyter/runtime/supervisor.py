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
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from ..engine.events import StopRequested, TrainingListener, TrainingResult
from ..files import remove_orphan_temp_files
from .launcher import WorkerHandle, WorkerSession, start_worker
from .outcome import Outcome
from .protocol import (
    LOG_NAME,
    Abort,
    Ack,
    Delivery,
    ProtocolError,
    Stop,
    WorkerError,
    WorkerSpec,
    decode_event,
    encode,
)

__all__ = ["LOG_NAME", "Outcome", "describe_exit", "fork_server_end", "supervise"]

log = logging.getLogger(__name__)


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
    """Turns worker messages into listener calls (:data:`~.protocol.EVENTS`) and answers them."""

    def __init__(
        self, conn: Any, listeners: Sequence[TrainingListener], stop_event: threading.Event, run_dir: Path
    ):
        self.conn, self.listeners, self.stop_event, self.run_dir = conn, listeners, stop_event, run_dir
        self.result: TrainingResult | None = None
        self.error: str | None = None  # the engine's, as the worker reported it
        self.listener_error: str | None = None  # a listener here raised, or a message was refused
        self.listener_stop = False  # a listener raised StopRequested

    def handle(self, raw: bytes) -> None:
        """Deliver one message to every listener, in order, and answer it."""
        delivery: Delivery | WorkerError | None = None
        try:
            delivery = decode_event(raw, self.run_dir)
            if isinstance(delivery, WorkerError):
                self.error = delivery.error or "the worker failed"
                return
            if delivery.event.last:
                self.result = delivery.values["result"]
            for listener in self.listeners:
                delivery.to(listener)
        except StopRequested:  # a listener ends the run as stopped (a search pruning its trial)
            self.listener_stop = True
            self.reply(Ack(stop=True, stop_now=True))
            return
        except Exception as exc:  # a listener here raised (or the message was refused): the run fails
            if isinstance(exc, ProtocolError):
                log.error("refused a message from the training worker: %s", exc)
            else:
                what = delivery.event.name if isinstance(delivery, Delivery) else "a worker message"
                log.exception("a training listener raised on %s", what)
            self.listener_error = f"{type(exc).__name__}: {exc}"
            self.reply(Abort(error=self.listener_error))
            return
        self.reply(_ACK_STOP if self.stop_event.is_set() or self.listener_stop else _ACK)

    def reply(self, message: Ack | Abort | Stop | bytes) -> None:
        """Send ``message`` (or its encoding) to the worker, unless it is gone."""
        raw = message if isinstance(message, bytes) else encode(message)
        with contextlib.suppress(OSError):  # the worker is gone; its exit is handled by the caller
            self.conn.send_bytes(raw)


_ACK, _ACK_STOP = encode(Ack()), encode(Ack(stop=True))
"""The answers to almost every event, encoded once."""


def supervise(
    spec: WorkerSpec,
    listeners: Sequence[TrainingListener],
    stop_event: threading.Event,
    *,
    session: WorkerSession | None = None,
    grace: tuple[float, float] = (10.0, 5.0),
    on_start: Callable[[int | None], None] | None = None,
) -> Outcome:
    """Train ``spec`` in a worker process (or a torchrun job) writing into ``spec.run_dir``.

    Parameters
    ----------
    spec : WorkerSpec
        The run: its config, run folder, caches and how its events are relayed.
    listeners : sequence of TrainingListener
        Called here, in order, for every engine event of the worker (the leader, with several).
    stop_event : threading.Event
        Set to stop: the worker ends within one batch; else SIGTERM after ``grace[0]`` s,
        SIGKILL after ``grace[1]`` s more.
    session : WorkerSession, optional
        Train in the session's worker (forked on its first run): a run that ends with its
        ``end`` event leaves the worker running for the session's next run. A session's worker
        (a search's trials) relays its events pipelined (:mod:`.relay`): it does not wait for
        each answer, so these listeners run while it trains on.
    grace : (float, float)
        Seconds from the stop message to SIGTERM, and from SIGTERM to SIGKILL.
    on_start : callable, optional
        Called with the worker's pid (torchrun's, for a job) once it runs.

    Returns
    -------
    Outcome
    """
    worker = start_worker(spec, f"eegtrain-worker-{spec.run_dir.name}", session)
    if on_start is not None:
        on_start(worker.pid)
    supervision = _Supervision(worker, spec.run_dir, listeners, stop_event, session, grace)
    try:
        supervision.relay_until_the_end()
    finally:
        supervision.release_worker()
    return supervision.outcome()


class _Supervision:
    """One run's worker as :func:`supervise` follows it: its events, the stop escalation, its end."""

    def __init__(
        self,
        worker: WorkerHandle,
        run_dir: Path,
        listeners: Sequence[TrainingListener],
        stop_event: threading.Event,
        session: WorkerSession | None,
        grace: tuple[float, float],
    ):
        self.worker, self.run_dir, self.listeners, self.stop_event = worker, run_dir, listeners, stop_event
        self.session, self.grace = session, grace
        self.dispatch: _Dispatch | None = None
        self.escalation: list[str] = []
        self.exitcode: int | None = None
        self.stop_sent: float | None = None
        self.term_sent: float | None = None
        self.conn_open = True
        self.kept = False  # the run ended with its end event and the session's worker waits for the next

    def relay_until_the_end(self) -> None:
        """Relay the worker's events until it exits (and its last messages are read), or until its
        run ends in a session's worker that stays for the next run."""
        while True:
            conn = self.worker.accept() if self.conn_open else None
            if conn is not None and self.dispatch is None:
                self.dispatch = _Dispatch(conn, self.listeners, self.stop_event, self.run_dir)
            self._escalate_stop(time.monotonic())
            exited = self.worker.exitcode() is not None
            if conn is not None and self.dispatch is not None and self.conn_open:
                try:
                    if wait([conn], timeout=0 if exited else 0.05):
                        self.dispatch.handle(conn.recv_bytes())
                        if self._run_over_in_a_kept_worker(exited):
                            return
                        continue  # drain what it sent before it ended
                except (EOFError, OSError):
                    self.conn_open = False
                    continue
            elif not exited:
                time.sleep(0.05)
            if exited:
                return

    def _escalate_stop(self, now: float) -> None:
        """Once a stop is asked for (the user, or a listener here): the stop message, then
        SIGTERM after ``grace[0]`` s, then SIGKILL after ``grace[1]`` s more."""
        dispatch = self.dispatch
        asked = dispatch is not None and (dispatch.listener_error or dispatch.listener_stop)
        if not (self.stop_event.is_set() or asked):
            return
        if self.stop_sent is None:
            if dispatch is not None:
                dispatch.reply(Stop())
            self.stop_sent = now
        elif self.term_sent is None and now - self.stop_sent > self.grace[0]:
            self.escalation.append("SIGTERM")
            self.worker.terminate()
            self.term_sent = now
        elif (
            self.term_sent is not None
            and now - self.term_sent > self.grace[1]
            and "SIGKILL" not in self.escalation
        ):
            self.escalation.append("SIGKILL")
            self.worker.kill()

    def _run_over_in_a_kept_worker(self, exited: bool) -> bool:
        """Whether the run ended cleanly in the session's worker, which then stays."""
        dispatch = self.dispatch
        if self.session is None or dispatch is None or dispatch.result is None or dispatch.listener_error:
            return False
        self.kept = not exited and self.session.keep(self.worker)
        return self.kept

    def release_worker(self) -> None:
        """Leave a kept worker running; end any other (killed if this thread is being torn down:
        never leave a worker behind); remove the temp files of a write its end cut short."""
        worker = self.worker
        if self.escalation:
            log.warning(
                "training worker %s did not stop on request; sent %s",
                worker.pid,
                " then ".join(self.escalation),
            )
        if self.kept:
            pass
        elif self.session is not None:
            self.session.discard(worker)
        else:
            worker.close()
        self.exitcode = worker.exitcode()
        remove_orphan_temp_files(self.run_dir)

    def outcome(self) -> Outcome:
        """How the run ended: failed when the engine or a listener here raised, or the worker died
        without a stop asked for; else completed or stopped (see :class:`~.outcome.Outcome`)."""
        dispatch, pid, code, signals = self.dispatch, self.worker.pid, self.exitcode, tuple(self.escalation)
        result = dispatch.result if dispatch is not None else None
        error = dispatch.listener_error or dispatch.error if dispatch is not None else None
        stop_asked = self.stop_event.is_set() or (dispatch is not None and dispatch.listener_stop)
        if error is None and result is None and not stop_asked:
            error = describe_exit(code, pid, self.run_dir / LOG_NAME)
        if error is not None:
            return Outcome.failed(error, self.run_dir, pid=pid, exitcode=code, escalation=signals)
        # stopped by SIGTERM/SIGKILL after the stop message when the engine did not return
        return Outcome.ended(result, self.run_dir, pid=pid, exitcode=code, escalation=signals)
