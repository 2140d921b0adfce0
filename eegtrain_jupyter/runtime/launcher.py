"""Worker processes as the supervisor sees them: one forked worker, or a torchrun job.

Both kinds are a :class:`WorkerHandle`: a connection that carries the leader's events (see
:mod:`.worker` for the messages), an exit code, and the stop escalation (SIGTERM, SIGKILL).

* One process (``devices="auto"``, one node): forked from a :mod:`multiprocessing` fork server
  that imported torch, braindecode and the engine once.
* Several (``devices="cpu:N"`` or ``"N"`` GPUs, or ``nnodes > 1``): ``python -m
  torch.distributed.run ... -m eegtrain_jupyter.runtime.worker`` in its own session (so SIGKILL reaches
  the whole job); rank 0 connects back over a Unix socket in a private temporary folder.
  Several nodes use torchrun's static rendezvous at ``rdzv_endpoint`` with ``node_rank`` (so the
  server's node, 0, holds rank 0); the other nodes join with ``eegtrain worker``.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the protocol (pydantic, the config) is imported where a worker starts
    from .protocol import WorkerSpec

__all__ = [
    "BACKEND_ENV",
    "PRELOAD",
    "SOCKET_ENV",
    "ForkedWorker",
    "TorchrunJob",
    "WorkerHandle",
    "WorkerSession",
    "processes_per_node",
    "start_worker",
    "torchrun_args",
    "torchrun_command",
]

SOCKET_ENV = "EEGTRAIN_WORKER_SOCKET"
BACKEND_ENV = "EEGTRAIN_DIST_BACKEND"
PRELOAD = (
    "torch",
    "torch._dynamo",
    "braindecode.models",
    "matplotlib.backends.backend_agg",
    "matplotlib.figure",  # the curves PNG: ~0.16 s to import in every worker otherwise
    "eegtrain_jupyter.engine.training",
    "eegtrain_jupyter.data.windows",
    "eegtrain_jupyter.data.synthetic",
    "eegtrain_jupyter.runtime.worker",
    "eegtrain_jupyter.runtime.workbench",
    # a classical baseline's run: skops scans every loaded module for its trusted types when it is
    # imported (seconds with torch loaded), and the pipelines' own modules
    "skops.io",
    "eegtrain_jupyter.models.classical",
)
"""Modules the fork server imports once for every worker it forks."""

_CONTEXT_LOCK = threading.Lock()
_context: Any = None


def _mp_context() -> Any:
    """The fork server (spawn where there is none): a clean process, CUDA untouched."""
    global _context
    with _CONTEXT_LOCK:
        if _context is None:
            if "forkserver" in mp.get_all_start_methods():
                _context = mp.get_context("forkserver")
                _context.set_forkserver_preload(list(PRELOAD))
            else:
                _context = mp.get_context("spawn")
        return _context


def processes_per_node(devices: str) -> tuple[int, str]:
    """``(processes on this node, backend)`` for a ``devices`` value."""
    if devices.startswith("cpu:"):
        return int(devices[4:]), "gloo"
    if devices == "auto":
        return 1, "gloo"
    return int(devices), "nccl"


def torchrun_command(config: Any) -> list[str]:
    """The command that runs ``config``'s part on this node: torchrun, then the worker module."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *torchrun_args(config),
        "-m",
        "eegtrain_jupyter.runtime.worker",
    ]


def torchrun_args(config: Any) -> list[str]:
    """torchrun's options for ``config`` (before ``-m eegtrain_jupyter.runtime.worker``)."""
    nproc, _ = processes_per_node(config.devices)
    args = [f"--nproc-per-node={nproc}", "--max-restarts=0", "--monitor-interval=0.5"]
    if config.nnodes > 1:
        host, _, port = config.rdzv_endpoint.rpartition(":")
        args += [
            f"--nnodes={config.nnodes}",
            f"--node-rank={config.node_rank}",
            "--rdzv-backend=static",
            f"--master-addr={host}",
            f"--master-port={port}",
        ]
    else:
        args += ["--standalone"]
    return args


class WorkerHandle:
    """What the supervisor needs of a worker: its connection, exit code and signals."""

    pid: int | None
    conn: Connection | None

    def exitcode(self) -> int | None:
        raise NotImplementedError

    def terminate(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError

    def accept(self) -> Connection | None:
        """The leader's connection once it exists."""
        return self.conn

    def close(self) -> None:
        """Reap the process and free what it held."""


class ForkedWorker(WorkerHandle):
    """One worker forked from the fork server, its duplex pipe as the connection."""

    def __init__(self, target: Any, spec: WorkerSpec, name: str):
        ctx = _mp_context()
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=target, args=(child_conn, spec), name=name, daemon=True)
        try:
            self.proc.start()
        finally:
            child_conn.close()
        self.pid = self.proc.pid
        self.sentinel = self.proc.sentinel

    def exitcode(self) -> int | None:
        return self.proc.exitcode  # after close(): the code it ended with

    def terminate(self) -> None:
        self.proc.terminate()

    def kill(self) -> None:
        self.proc.kill()

    def close(self) -> None:
        if self.proc.exitcode is None:
            self.proc.kill()
        self.proc.join()
        if self.conn is not None:
            self.conn.close()


class TorchrunJob(WorkerHandle):
    """A ``torchrun`` job of several worker processes; rank 0 connects to a Unix socket here and
    receives the run (:class:`~.protocol.Train`)."""

    def __init__(self, spec: WorkerSpec):
        self.tmp = tempfile.mkdtemp(prefix="eegtrain-worker-")  # 0700: only this user connects
        self.sock_path = os.path.join(self.tmp, "leader.sock")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.sock_path)
        self.server.listen(1)
        self.server.setblocking(False)
        self.spec = spec
        self.conn = None
        _, backend = processes_per_node(spec.config.devices)
        env = {**spec.env, SOCKET_ENV: self.sock_path, BACKEND_ENV: backend, "PYTHONUNBUFFERED": "1"}
        cmd = torchrun_command(spec.config)
        with open(spec.log_path, "ab") as log:
            log.write(("$ " + " ".join(cmd) + "\n").encode())
            log.flush()
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.pid = self.proc.pid

    def accept(self) -> Connection | None:
        if self.conn is None:
            try:
                sock, _ = self.server.accept()
            except (BlockingIOError, OSError):
                return None
            sock.setblocking(True)
            self.conn = Connection(sock.detach())
            from .protocol import Train, encode

            self.conn.send_bytes(encode(Train(spec=self.spec)))
        return self.conn

    def exitcode(self) -> int | None:
        return self.proc.poll()

    def terminate(self) -> None:
        self.proc.terminate()  # torchrun passes SIGTERM on to every rank

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # torchrun and its ranks (one session)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        self.proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # ranks left by a torchrun that died first
        if self.conn is not None:
            self.conn.close()
        self.server.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def start_worker(spec: WorkerSpec, name: str, session: WorkerSession | None = None) -> WorkerHandle:
    """A forked worker for one process on one node (``session``'s, when one is given), else a
    torchrun job."""
    nproc, _ = processes_per_node(spec.config.devices)
    if nproc == 1 and spec.config.nnodes == 1:
        if session is not None:
            return session.start(spec, name)
        from .worker import run_in_child

        return ForkedWorker(run_in_child, spec, name)
    return TorchrunJob(spec)


class WorkerSession:
    """One forked worker kept for several runs in a row (a search's trials).

    The first run forks the worker; each later run is sent to it as a :class:`~.protocol.Train` over the
    same pipe, and the worker trains it with the windows, built models and feature keys it kept
    (:class:`~.workbench.Workbench`), relaying its events pipelined (:mod:`.relay`). A run that
    does not end cleanly (a failure, a kill, a supervisor torn down) ends the worker, and the next
    run forks a fresh one. Runs that need several processes (torchrun) never use the session (and
    relay lock-step). :meth:`close` ends the worker.
    """

    CLOSE_TIMEOUT = 5.0
    """Seconds :meth:`close` waits for the worker to exit before killing it."""

    def __init__(self) -> None:
        self._worker: ForkedWorker | None = None
        self._lock = threading.Lock()

    def start(self, spec: WorkerSpec, name: str) -> ForkedWorker:
        """The session's worker, given ``spec`` as its next run (forked when there is none alive)."""
        from .protocol import Train, encode
        from .worker import run_in_child

        spec = spec.model_copy(update={"keep": True, "pipelined": True})  # see relay: runs are trials
        with self._lock:
            worker = self._worker
            if worker is not None and worker.exitcode() is None and worker.conn is not None:
                try:
                    worker.conn.send_bytes(encode(Train(spec=spec)))
                    return worker
                except OSError:
                    pass
            if worker is not None:
                worker.close()
            self._worker = ForkedWorker(run_in_child, spec, name)
            return self._worker

    def keep(self, worker: WorkerHandle) -> bool:
        """Whether ``worker`` is this session's (and so outlives the run that just ended cleanly)."""
        with self._lock:
            return worker is self._worker and worker.exitcode() is None

    def discard(self, worker: WorkerHandle) -> None:
        """End ``worker`` (a run did not end cleanly); the next run forks a fresh one."""
        with self._lock:
            if worker is self._worker:
                self._worker = None
        worker.close()

    def close(self) -> None:
        """Ask the worker to exit, wait up to :attr:`CLOSE_TIMEOUT` seconds, then kill it."""
        from .protocol import Close, encode

        with self._lock:
            worker, self._worker = self._worker, None
        if worker is None:
            return
        if worker.conn is not None:
            with contextlib.suppress(OSError):
                worker.conn.send_bytes(encode(Close()))
        worker.proc.join(self.CLOSE_TIMEOUT)
        worker.close()
