"""The data worker: every read of a user's data that the service needs outside a run.

The Jupyter server process only routes: the pre-start scan of a ``files``/``epochs`` source, its
``config/validate``, the check of ``pretrained_weights``, prediction, evaluation and export of
recorded runs and drawing a trial's curves all run here, in processes forked from the fork server (see
:mod:`.launcher`), each under limits:

* a wall-clock limit per task (``timeout_s``): past it the process is killed, the request answers
  400 naming the file it was reading and the limit, and the next task gets a fresh process;
* a memory limit per process (``memory_mb`` over what the process holds when it starts, as
  ``RLIMIT_AS``): an allocation past it fails inside the task, which answers 400 naming the file
  and the limit; the process lives on;
* at most ``size`` tasks at once; more wait for a free process (in the caller's thread).

A process is kept for the next task (it keeps the models it loaded for prediction), unless a task
was killed; the processes run at the training worker's niceness (``EEGTRAIN_NICE``), so the
server's own requests come first; an idle one exits after :data:`IDLE_EXIT_S` seconds, and the pool's processes end
with the pool (:meth:`DataWorker.close`, or when it is garbage). On Linux the processes are named
``eegtrain-data`` (``ps -o comm``). The tasks themselves are :mod:`.tasks`' functions; what crosses the pipe is one
:class:`Request`, any number of :class:`Progress` messages and one :class:`Reply`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
import traceback
import weakref
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from ..config.env import default_nice
from ..errors import ConfigError, EegtrainError, FieldError, from_response

__all__ = [
    "IDLE_EXIT_S",
    "PROCESS_NAME",
    "DataWorker",
    "Progress",
    "Reply",
    "Request",
    "limit_reply",
    "serve",
]

log = logging.getLogger(__name__)


PROCESS_NAME = "eegtrain-data"
"""The data-worker processes' name (Linux ``comm``)."""
IDLE_EXIT_S = 120.0
"""Seconds an idle data-worker process waits for its next task before it exits."""


@dataclass(frozen=True)
class Request:
    """Run :data:`.tasks.TASKS` ``[task]`` with ``kwargs``; errors name ``field``."""

    task: str
    kwargs: dict[str, Any]
    field: str


@dataclass(frozen=True)
class Progress:
    """What the task is reading now (a file's root-relative name), for the limit errors."""

    reading: str


@dataclass(frozen=True)
class Reply:
    """A task's end: ``value`` on success, else the error's HTTP ``status`` and JSON body."""

    value: Any = None
    status: int | None = None
    body: dict[str, Any] = field(default_factory=dict)


class DataWorker:
    """A small pool of processes that run :mod:`.tasks` under limits (see the module docstring).

    Parameters
    ----------
    size : int
        Tasks that run at once.
    timeout_s : float
        Wall-clock seconds per task.
    memory_mb : float
        Memory each process may add to what it holds when it starts (MB).
    """

    def __init__(self, *, size: int, timeout_s: float, memory_mb: float):
        self.size, self.timeout_s, self.memory_mb = size, timeout_s, memory_mb
        self._slots = threading.BoundedSemaphore(max(1, size))
        self._idle: list[_Process] = []
        self._lock = threading.Lock()
        self._closed = False
        weakref.finalize(self, _close_all, self._idle)

    def call(self, task: str, /, *, field: str, timeout_s: float | None = None, **kwargs: Any) -> Any:
        """Run ``task`` with ``kwargs`` in a worker process and return its value.

        Raises
        ------
        EegtrainError
            What the task raised (rebuilt from its status and body), or a :class:`ConfigError`
            naming ``field``, the file being read and the limit it hit.
        """
        limit = self.timeout_s if timeout_s is None else timeout_s
        with self._slots:
            proc = self._take()
            keep = False
            try:
                reply, keep = proc.run(Request(task, kwargs, field), limit)
            finally:
                if keep and not self._closed:
                    with self._lock:
                        self._idle.append(proc)
                else:
                    proc.close()
        if reply.status is not None:
            raise from_response(reply.status, reply.body)
        return reply.value

    def close(self) -> None:
        """End every idle process (a running task ends its process when it returns)."""
        with self._lock:
            self._closed = True
            idle = list(self._idle)
            self._idle.clear()
        _close_all(idle)

    @property
    def pids(self) -> list[int]:
        """Process ids of the idle processes (for tests and diagnostics)."""
        with self._lock:
            return [p.pid for p in self._idle if p.pid is not None]

    def _take(self) -> _Process:
        with self._lock:
            while self._idle:
                proc = self._idle.pop()
                if proc.alive():
                    return proc
                proc.close()
        return _Process(self.memory_mb)


def _close_all(processes: list[_Process]) -> None:
    for proc in list(processes):
        proc.close()
    processes.clear()


class _Process:
    """One forked data-worker process and its pipe."""

    def __init__(self, memory_mb: float):
        from .launcher import _mp_context

        ctx = _mp_context()
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=serve, args=(child, memory_mb), name="eegtrain-data", daemon=True)
        try:
            self.proc.start()
        finally:
            child.close()
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.exitcode is None

    def run(self, request: Request, timeout_s: float) -> tuple[Reply, bool]:
        """``(reply, keep the process)``: the task's reply, or a limit error (process not kept)."""
        deadline = time.monotonic() + timeout_s
        reading: str | None = None
        try:
            self.conn.send(request)
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not self.conn.poll(left):
                    return limit_reply(
                        request,
                        reading,
                        f"took longer than the {timeout_s:g} s limit for reading data "
                        "(TrainingExtension.data_timeout_s)",
                    ), False
                message = self.conn.recv()
                if isinstance(message, Progress):
                    reading = message.reading
                    continue
                return message, True
        except (EOFError, OSError):  # the process died under the task
            self.proc.join(1.0)
            code = self.proc.exitcode
            why = (
                f"ended the data worker with {signal.Signals(-code).name}"
                + (" (out of memory?)" if code == -signal.SIGKILL else "")
                if code is not None and code < 0
                else f"ended the data worker (exit code {code})"
            )
            return limit_reply(request, reading, why), False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        if self.proc.exitcode is None:
            self.proc.kill()
        self.proc.join()


# -- the worker process side ----------------------------------------------------------------------
def limit_reply(request: Request, reading: str | None, why: str) -> Reply:
    """A 400 naming the request's field, the file it was reading and the limit it hit (``why``)."""
    where = f"reading {reading}" if reading else f"the {request.task} task"
    error = ConfigError([FieldError(request.field, f"{where} {why}")])
    return Reply(status=error.status, body=error.body())


def _limit_memory(memory_mb: float) -> None:
    """Cap this process's address space at what it maps now plus ``memory_mb``."""
    import resource

    try:
        with open("/proc/self/statm") as fh:
            mapped = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = mapped + int(memory_mb * 2**20)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _name_process(name: str) -> None:
    """Set this process's name as ``ps``/``top`` show it (Linux; elsewhere a no-op)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def _out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc).lower()
    )


def serve(conn: Connection, memory_mb: float) -> None:
    """The worker's loop: one :class:`Request` at a time until the pipe closes."""
    with contextlib.suppress(ImportError):  # one thread: tasks are small, the cores are training's
        import torch

        torch.set_num_threads(1)
    _name_process(PROCESS_NAME)
    with contextlib.suppress(OSError):  # below the server, as the training worker is
        os.nice(default_nice())
    _limit_memory(memory_mb)
    while True:
        try:
            if not conn.poll(IDLE_EXIT_S):
                return
            request = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(_answer(conn, request, memory_mb))
        except (OSError, ValueError):
            return


def _answer(conn: Connection, request: Request, memory_mb: float) -> Reply:
    """Run one request; its value, or its error as status and body."""
    from .tasks import TASKS

    reading: list[str] = []

    def progress(name: str) -> None:
        reading.append(name)
        conn.send(Progress(name))

    try:
        return Reply(value=TASKS[request.task](progress=progress, **request.kwargs))
    except EegtrainError as exc:
        return Reply(status=exc.status, body=exc.body())
    except Exception as exc:
        if _out_of_memory(exc):
            return limit_reply(
                request,
                reading[-1] if reading else None,
                f"needs more than the {memory_mb:g} MB memory limit for reading data "
                "(TrainingExtension.data_memory_mb)",
            )
        traceback.print_exc()  # a bug, not the user's input: logged here, a plain 500 there
        return Reply(status=500, body=EegtrainError(f"{request.task} failed: {type(exc).__name__}").body())
