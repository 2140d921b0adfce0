"""The training worker: one run in its own process, its engine events streamed to the supervisor.

The server (or kernel, or CLI) never trains in its own process: :mod:`.supervisor` starts this
worker, which loads the data, runs :func:`~.engine.train` and relays every engine event over a
:class:`multiprocessing.connection.Connection` as one JSON object. The relay is **lock-step**:
after each event the worker waits for the supervisor's answer, which carries the stop flag (so a
stop lands before the next batch, exactly as with an in-process ``should_stop``) or an abort
(a listener on the supervisor's side raised: the run fails with that error, as it did in-thread).

The messages are :mod:`.protocol`'s: the run is a :class:`~.protocol.WorkerSpec`; each engine
event goes out as its :data:`~.protocol.EVENTS` entry says and is answered with an
:class:`~.protocol.Ack` (with the stop flags) or an :class:`~.protocol.Abort`; a failure goes
out, unanswered, as a :class:`~.protocol.WorkerError`; a :class:`~.protocol.Stop` may come at
any time.

A worker of a :class:`~.launcher.WorkerSession` (a search's trials; its spec says ``keep``)
does not exit after a run that ended with ``end``: it waits for the next
:class:`~.protocol.Train` (or a :class:`~.protocol.Close`, or the pipe's end) and trains it with what its
:class:`~.workbench.Workbench` kept (windows, built models, feature keys). A run that fails
still ends the process: the next run gets a fresh one.

The worker's stdout/stderr go to ``worker.log`` in the run folder (with :mod:`faulthandler`'s
traceback on a crash), so a worker that dies can be explained. It ignores SIGINT (a terminal's
Ctrl-C reaches the whole process group; the supervisor decides), dies on SIGTERM (its files are
written atomically, so whatever is on disk stays valid), and exits when its supervisor is gone.

``EEGTRAIN_WORKER_FAULT`` (read by the supervisor, for the reliability tests only) injects a real
fault at a real point of a run: ``KIND@PHASE:BATCH`` with KIND ``segfault`` (``ctypes.string_at(0)``),
``exit:CODE`` (``os._exit``), ``allocate:MB`` (sets ``RLIMIT_AS`` to the current address space plus
MB megabytes, then allocates until the OS refuses) or ``hang`` (ignores SIGTERM and sleeps).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

from ..config.third_party import quiet_third_party_warnings
from ..engine.events import TrainingListener
from .protocol import FAULT_ENV, Close, Train, WorkerError, WorkerSpec, decode_to_worker
from .relay import Aborted, Relay

if TYPE_CHECKING:
    from .workbench import Workbench

__all__ = ["FAULT_ENV", "main", "run_in_child"]


class _Fault(TrainingListener):
    """Test-only fault injection (``EEGTRAIN_WORKER_FAULT``), at a batch of a phase."""

    def __init__(self, spec: str):
        kind, _, where = spec.partition("@")
        phase, _, batch = where.rpartition(":")
        self.kind, self.phase, self.batch = kind, phase or "train", int(batch or 1)

    def on_batch(self, *, epoch: int, batch: int, n_batches: int, phase: str, **_: Any) -> None:
        if phase != self.phase or batch != self.batch:
            return
        kind, _sep, arg = self.kind.partition(":")
        print(f"eegtrain worker: injecting fault {self.kind!r} at {phase} batch {batch}", flush=True)
        if kind == "segfault":
            import ctypes

            ctypes.string_at(0)
        elif kind == "exit":
            os._exit(int(arg or 1))
        elif kind == "allocate":
            import resource

            limit = _address_space() + int(arg or 1024) * 1024**2
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            hoard = []
            while True:  # until the address-space limit makes an allocation fail
                hoard.append(bytearray(64 * 1024**2))
        elif kind == "hang":  # stuck in native code: deaf to the stop message and to SIGTERM
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while True:
                time.sleep(1.0)
        raise ValueError(f"unknown fault {self.kind!r}")


def describe_error(exc: BaseException) -> str:
    """``Type: message`` as the run's error (the message of an out-of-memory error is often empty)."""
    message = str(exc) or ("the worker ran out of memory" if isinstance(exc, MemoryError) else "")
    return f"{type(exc).__name__}: {message}"


def _address_space() -> int:
    """This process's virtual memory size in bytes (``VmSize``)."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))


def _redirect_output(log_path: str | os.PathLike[str]) -> None:
    """Point fds 1 and 2 (and so ``print``, warnings, native code) at ``log_path``."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for target in (1, 2):
        os.dup2(fd, target)
    os.close(fd)


def _exit_with_parent(parent_pid: int) -> None:
    """End this process once the process that started it is gone (checked every second)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(70)

    threading.Thread(target=watch, name="eegtrain-parent-watch", daemon=True).start()


def run_in_child(conn: Any, spec: WorkerSpec) -> None:
    """Entry point of the worker process (a ``multiprocessing`` target).

    Parameters
    ----------
    conn : Connection
        The worker's end of the duplex pipe to the supervisor.
    spec : WorkerSpec
        The first run (its ``env``, the supervisor's environment, is applied here).
    """
    import faulthandler

    from .workbench import Workbench

    _redirect_output(spec.log_path)
    quiet_third_party_warnings()
    faulthandler.enable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _exit_with_parent(os.getppid())
    bench = Workbench() if spec.keep else None  # only a session's worker has a next run
    code = 0
    while True:
        os.environ.clear()
        os.environ.update(spec.env)
        relay = Relay(conn, batch_interval=spec.batch_interval, pipelined=spec.pipelined)
        try:
            _train(relay, spec, bench)
        except Aborted:
            code = 1
        except (EOFError, BrokenPipeError, ConnectionResetError):
            code = 70  # the supervisor is gone
        except BaseException as exc:
            traceback.print_exc()
            code = 1
            with contextlib.suppress(OSError):
                relay.fail(WorkerError(error=describe_error(exc), traceback=traceback.format_exc()))
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        following = _next_spec(conn) if code == 0 and spec.keep else None
        if following is None:
            break
        spec = following
        _redirect_output(spec.log_path)  # each run's output goes to its own worker.log
    os._exit(code)  # skip atexit/finalizers of a process that only trained


def _next_spec(conn: Any) -> WorkerSpec | None:
    """Wait for the next run of a session; None on :class:`~.protocol.Close` or when the pipe
    ends. A stop that arrived after the last run ended is ignored."""
    while True:
        try:
            message = decode_to_worker(conn.recv_bytes())
        except (EOFError, OSError):
            return None
        if isinstance(message, Close):
            return None
        if isinstance(message, Train):
            return message.spec


def _train(relay: Relay | None, spec: WorkerSpec, bench: Workbench | None = None) -> None:
    """Load the windows and train; ``relay`` is None on a rank that only trains its shard;
    ``bench`` keeps windows and models for the next run of the same process."""
    from ..data.windows import load_windows
    from ..engine.feature_cache import FeatureCache
    from ..engine.training import train
    from ..models import registry as models
    from .launcher import processes_per_node
    from .resources import check_gpu_memory
    from .tuning import configure_training_thread

    if spec.thread_settings is not None:
        configure_training_thread(**spec.thread_settings)
    config = spec.config
    if processes_per_node(config.devices)[1] == "gloo" and config.devices != "auto":
        config = config.model_copy(update={"device": "cpu"})  # cpu:N
    listeners: list[TrainingListener] = []
    if relay is not None:
        listeners.append(relay)
        relay.on_phase("loading data")
    if spec.fault:
        listeners.append(_Fault(spec.fault))
    from ..data.paths import PathPolicy

    paths = PathPolicy(spec.root_dir, confine=spec.confine) if spec.root_dir else None
    if bench is not None:
        data = bench.windows(config, paths, spec.windows_cache)
    else:
        data = load_windows(config, paths, spec.windows_cache)
    check_gpu_memory(config)
    if relay is not None:  # the leader writes the outputs, the model card among them
        from ..serving.model_card import ModelCardWriter

        listeners.append(ModelCardWriter(spec.run_dir, data, spec.run_dir.name))
    board = None
    if relay is not None and spec.tensorboard_dir:
        from ..engine import tensorboard

        board = tensorboard.for_dir(spec.tensorboard_dir, config)
        if board is not None:
            listeners.append(board)
    cache: FeatureCache | None = None
    if spec.feature_cache:
        cache = bench.feature_cache(spec.feature_cache) if bench else FeatureCache(spec.feature_cache)
    try:
        train(
            config,
            data,
            spec.run_dir if relay is not None else None,
            listeners=listeners,
            should_stop=relay.should_stop if relay is not None else (lambda: False),
            feature_cache=cache,
            build=bench.build if bench is not None else models.build,
            light_outputs=spec.light_outputs,
        )
    finally:
        if board is not None:
            board.close()


def main(argv: list[str] | None = None) -> int:
    """One process of a torchrun job: ``torchrun ... -m eegtrain_jupyter.runtime.worker``.

    Rank 0 (on the server's node) connects to the supervisor's socket (``EEGTRAIN_WORKER_SOCKET``)
    and receives the run; it sends the config to the other ranks, which train their shards
    silently. Every rank loads the same windows (seeded); see :mod:`.distributed`.
    """
    from multiprocessing.connection import Client

    import torch.distributed as dist

    from ..engine.distributed import init_from_env
    from .launcher import BACKEND_ENV, SOCKET_ENV

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    quiet_third_party_warnings()
    _exit_with_parent(os.getppid())
    rank = int(os.environ.get("RANK", "0"))
    relay: Relay | None = None
    spec: WorkerSpec | None = None
    if rank == 0:
        path = os.environ.get(SOCKET_ENV)
        if not path:
            print("eegtrain worker: rank 0 must run on the server's node (node_rank 0)", file=sys.stderr)
            return 2
        conn = Client(path, family="AF_UNIX")
        message = decode_to_worker(conn.recv_bytes())
        if not isinstance(message, Train):
            print(f"eegtrain worker: expected the run, got a {message.kind!r} message", file=sys.stderr)
            return 2
        spec = message.spec
        relay = Relay(conn, batch_interval=spec.batch_interval, pipelined=spec.pipelined)
    group = init_from_env(os.environ.get(BACKEND_ENV, "gloo"))
    box = [spec]
    if group.world > 1:
        dist.broadcast_object_list(box, src=0)
    spec = box[0]
    assert spec is not None
    try:
        if relay is not None:
            _run_leader(relay, spec)
        else:
            _train(None, spec)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


def _run_leader(relay: Relay, spec: WorkerSpec) -> None:
    try:
        _train(relay, spec)
    except Aborted:
        raise SystemExit(1) from None
    except BaseException as exc:
        relay.fail(WorkerError(error=describe_error(exc), traceback=traceback.format_exc()))
        raise


if __name__ == "__main__":
    sys.exit(main())
