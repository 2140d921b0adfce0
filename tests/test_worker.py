"""Reliability of the worker process (issue 14), on the real LaBraM, no mocks.

Each run trains in a worker process the TrainingManager supervises. A worker killed (kill -9),
out of memory (bounded by ``RLIMIT_AS``), segfaulting or exiting: the run is ``failed`` with the
cause named, this process lives on and the next run works. Stops land within one batch, also
during the feature pass; a worker deaf to the stop is ended by SIGTERM, then SIGKILL. Cycles of
start/stop leave no worker process and no file descriptor behind, and this process's memory
returns to where it was.

Faults are injected into the real worker through ``EEGTRAIN_WORKER_FAULT``
(:mod:`eegtrain_jupyter.runtime.worker`), at a real batch of a real run.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil
import pytest
from configs import FINETUNE_TINY, TINY

from eegtrain_jupyter import files
from eegtrain_jupyter.engine import artifacts
from eegtrain_jupyter.engine.events import StopRequested, TrainingListener
from eegtrain_jupyter.runtime.dataworker import PROCESS_NAME
from eegtrain_jupyter.runtime.worker import FAULT_ENV
from eegtrain_jupyter.service.manager import TrainingManager

pytestmark = pytest.mark.slow  # every test trains (and most start a second run)


class Reached(TrainingListener):
    """Sets ``reached`` at batch ``batch`` of ``phase``; records when each batch event arrived."""

    def __init__(self, phase: str = "train", batch: int = 1, pause: float = 0.0):
        self.phase, self.batch, self.pause = phase, batch, pause
        self.reached = threading.Event()
        self.times: list[float] = []

    def on_batch(self, *, epoch, batch, n_batches, phase, **running) -> None:
        self.times.append(time.monotonic())
        if phase == self.phase and batch >= self.batch:
            self.reached.set()
        if self.pause:
            time.sleep(self.pause)


def _workers() -> list[psutil.Process]:
    """Live training workers: descendants of this process other than multiprocessing's fork server
    and tracker, and other than data workers (which outlive runs, see runtime.dataworker)."""
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if p.is_running()
        and p.status() != psutil.STATUS_ZOMBIE
        and p.ppid() != os.getpid()
        and p.name() != PROCESS_NAME
    ]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _failed_then_next_run_works(manager: TrainingManager, monkeypatch, *, words: tuple[str, ...]) -> dict:
    assert manager.wait(180)
    status = manager.status().to_json()
    assert status["state"] == "failed" and status["is_training"] is False, status
    for word in words:
        assert word in status["error"], status["error"]
    record = files.read_json(os.path.join(status["run_dir"], "run.json"))
    assert record["state"] == "failed" and record["error"] == status["error"]
    assert manager.worker_pid is None and _workers() == []
    monkeypatch.delenv(FAULT_ENV, raising=False)
    manager.start({**TINY, "save_dir": "out"})
    assert manager.wait(180)
    assert manager.status().state == "completed", manager.status().error
    return status


def test_kill_9_of_the_worker_mid_epoch_fails_the_run_names_the_signal(tmp_path, monkeypatch):
    reached = Reached("train", 2)
    manager = TrainingManager(tmp_path, listeners=[reached])
    manager.start({**FINETUNE_TINY, "n_epochs": 2, "save_dir": "out"})
    assert reached.reached.wait(180)
    pid = manager.worker_pid
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    status = _failed_then_next_run_works(manager, monkeypatch, words=("signal 9", "SIGKILL", f"pid {pid}"))
    assert status["current_epoch"] == 0 and status["history"]["train_losses"] == []
    assert not _alive(pid)


def test_a_killed_fork_server_fails_the_run_naming_it_not_exit_code_255(tmp_path, monkeypatch):
    """multiprocessing reports exit code 255 for a worker whose fork server has gone (the
    fork server reports its children's exit status): the run's error names the fork server's end."""
    from multiprocessing import forkserver

    reached = Reached("train", 2)
    manager = TrainingManager(tmp_path, listeners=[reached])
    manager.start({**FINETUNE_TINY, "n_epochs": 2, "save_dir": "out"})
    assert reached.reached.wait(180)
    worker, server = manager.worker_pid, forkserver._forkserver._forkserver_pid
    assert worker is not None and server is not None and server != worker
    os.kill(server, signal.SIGKILL)
    status = _failed_then_next_run_works(
        manager, monkeypatch, words=("fork server", "signal 9 (SIGKILL)", f"pid {worker}")
    )
    assert "code 255" not in status["error"], status["error"]
    deadline = time.monotonic() + 10  # the orphaned worker ends itself once its parent is gone
    while _alive(worker):
        assert time.monotonic() < deadline, "the worker outlived its fork server"
        time.sleep(0.1)


def test_a_segfault_in_the_worker_fails_the_run_with_its_last_log_lines(tmp_path, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "segfault@train:1")
    manager = TrainingManager(tmp_path)
    manager.start({**TINY, "save_dir": "out"})
    status = _failed_then_next_run_works(
        manager, monkeypatch, words=("signal 11 (SIGSEGV)", "native code", "Segmentation fault")
    )
    assert "injecting fault 'segfault'" in status["error"] or "worker.log" in status["error"]


def test_a_worker_exiting_names_its_exit_code(tmp_path, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "exit:3@caching features:2")
    manager = TrainingManager(tmp_path)
    manager.start({**TINY, "save_dir": "out"})
    _failed_then_next_run_works(
        manager, monkeypatch, words=("exited with code 3", "injecting fault 'exit:3'")
    )


def test_a_worker_out_of_memory_fails_the_run_and_this_process_lives(tmp_path, monkeypatch):
    """The worker allocates until the OS refuses (``RLIMIT_AS`` = its address space + 512 MB)."""
    monkeypatch.setenv(FAULT_ENV, "allocate:512@train:1")
    manager = TrainingManager(tmp_path)
    rss = psutil.Process().memory_info().rss
    manager.start({**TINY, "save_dir": "out"})
    assert manager.wait(180)
    error = manager.status().error or ""
    # either the allocation fails (MemoryError, reported by the worker) or the OS kills it
    assert error.startswith("MemoryError: the worker ran out of memory") or "killed by signal" in error, error
    assert psutil.Process().memory_info().rss - rss < 100 * 1024**2  # the hoard was the worker's
    _failed_then_next_run_works(manager, monkeypatch, words=())


def test_a_stop_during_the_feature_pass_lands_within_one_batch(tmp_path):
    reached = Reached("caching features", 1, pause=0.05)
    manager = TrainingManager(tmp_path, listeners=[reached])
    manager.start({**TINY, "n_epochs": 3, "save_dir": "out"})
    assert reached.reached.wait(180)
    manager.stop()
    t_stop = time.monotonic()
    assert manager.wait(60)
    status = manager.status().to_json()
    assert status["state"] == "stopped" and status["current_epoch"] == 0, status
    assert sum(1 for t in reached.times if t > t_stop) <= 1
    assert not os.path.exists(os.path.join(status["run_dir"], artifacts.SYNTHETIC_CHECKPOINT_NAME))


class Prune(TrainingListener):
    """A per-run listener that ends the run after epoch ``at`` (as a search prunes a trial)."""

    def __init__(self, at: int):
        self.at, self.epochs, self.models, self.ended = at, [], [], None

    def on_model(self, *, name, n_parameters, n_trainable) -> None:
        self.models.append(name)

    def on_epoch_end(self, result, history) -> None:
        self.epochs.append(result.epoch)
        if result.epoch >= self.at:
            raise StopRequested

    def on_end(self, result) -> None:
        self.ended = result


@pytest.mark.parametrize(("n_epochs", "at"), [(3, 1), (2, 2)])  # mid-run, and after the last epoch
def test_a_per_run_listener_raising_stop_ends_the_worker_run_as_stopped(tmp_path, n_epochs, at):
    manager = TrainingManager(tmp_path)
    prune = Prune(at)
    manager.start({**TINY, "n_epochs": n_epochs, "save_dir": "out"}, listeners=[prune])
    assert manager.wait(180)
    status = manager.status().to_json()
    assert status["state"] == "stopped" and status["error"] is None, status
    assert prune.epochs == [*range(1, at + 1)] and prune.models == ["labram"]
    assert prune.ended is not None and prune.ended.stopped and prune.ended.epochs_completed == at
    assert len(status["history"]["train_losses"]) == at
    assert manager.worker_pid is None and _workers() == []


def test_a_worker_deaf_to_stop_and_sigterm_is_killed_and_the_run_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "hang@train:1")
    reached = Reached("train", 1)
    manager = TrainingManager(tmp_path, listeners=[reached])
    manager.stop_grace = (0.5, 0.5)
    manager.start({**TINY, "save_dir": "out"})
    assert reached.reached.wait(180)
    pid = manager.worker_pid
    time.sleep(0.3)  # the worker is inside the hang now
    t0 = time.monotonic()
    manager.stop()
    assert manager.wait(30)
    assert time.monotonic() - t0 < 10
    status = manager.status()
    assert status.state == "stopped" and status.error is None
    assert not _alive(pid)
    monkeypatch.delenv(FAULT_ENV)
    manager.start({**TINY, "save_dir": "out"})
    assert manager.wait(180) and manager.status().state == "completed"


def test_shutdown_stops_the_worker(tmp_path):
    reached = Reached("train", 1)
    manager = TrainingManager(tmp_path, listeners=[reached])
    manager.start({**FINETUNE_TINY, "n_epochs": 5, "save_dir": "out"})
    assert reached.reached.wait(180)
    pid = manager.worker_pid
    manager.shutdown(60)
    assert not manager.is_active() and manager.status().state == "stopped"
    assert not _alive(pid)
    assert _workers() == []


@pytest.mark.slow
def test_twenty_start_stop_cycles_leave_no_process_and_no_fd(tmp_path):
    reached = Reached("caching features", 1)
    manager = TrainingManager(tmp_path, listeners=[reached])
    manager.start({**TINY, "save_dir": "out"})  # the fork server starts with the first run
    assert manager.wait(180)
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    fds, rss = _fds(), psutil.Process().memory_info().rss
    pids = []
    for cycle in range(20):
        reached.reached.clear()
        reached.batch = 1 + cycle % 3
        manager.start({**TINY, "n_epochs": 2, "save_dir": "out", "seed": cycle})
        assert reached.reached.wait(120), f"cycle {cycle}"
        pids.append(manager.worker_pid)
        manager.stop()
        assert manager.wait(60), f"cycle {cycle}: did not stop"
        assert manager.status().state == "stopped"
    assert len(set(pids)) == 20
    assert not [p for p in pids if _alive(p)]
    assert {p.pid for p in psutil.Process().children(recursive=True)} == children
    assert _workers() == []
    assert _fds() == fds, "file descriptors leaked"
    assert psutil.Process().memory_info().rss - rss < 100 * 1024**2


def test_this_process_keeps_its_memory_and_never_touches_cuda(tmp_path):
    """The training's memory (data, model, activations, allocator caches) is the worker's."""
    import torch

    manager = TrainingManager(tmp_path)
    manager.start({**TINY, "save_dir": "out"})  # the fork server starts with the first run
    assert manager.wait(180)
    before = psutil.Process().memory_info().rss
    manager.start({**FINETUNE_TINY, "n_samples_per_class": 300, "save_dir": "out", "device": "auto"})
    assert manager.wait(300) and manager.status().state == "completed", manager.status().error
    assert psutil.Process().memory_info().rss - before < 100 * 1024**2
    assert not torch.cuda.is_initialized()


class BatchLog(TrainingListener):
    """The batch events that reached this process, by (phase, epoch)."""

    def __init__(self):
        self.seen: dict[tuple[str, int], list[tuple[int, int]]] = {}

    def on_batch(self, *, epoch, batch, n_batches, phase, **running) -> None:
        self.seen.setdefault((phase, epoch), []).append((batch, n_batches))


def test_a_search_trial_relays_fewer_batch_events_a_plain_run_all(tmp_path, monkeypatch):
    """A run started under a job (a search's trial) relays its first batch and then at most one
    per ``TRIAL_BATCH_INTERVAL``; a plain run relays every batch."""
    from eegtrain_jupyter.service import manager as service

    monkeypatch.setattr(service, "TRIAL_BATCH_INTERVAL", 3600.0)
    log = BatchLog()
    manager = TrainingManager(tmp_path, listeners=[log], feature_cache=False)  # same passes twice
    manager.start({**TINY, "n_epochs": 2, "save_dir": "out"})
    assert manager.wait(120) and manager.status().state == "completed"
    plain, log.seen = log.seen, {}
    assert plain[("train", 1)] == [
        (b, plain[("train", 1)][0][1]) for b in range(1, plain[("train", 1)][0][1] + 1)
    ]
    assert plain[("train", 1)][0][1] > 2  # inner batches exist to be left out below

    manager.reserve("job", lambda: None)
    try:
        manager.start({**TINY, "n_epochs": 2, "save_dir": "out"}, owner="job")
        assert manager.wait(120) and manager.status().state == "completed"
    finally:
        manager.release("job")
    first_pass = ("caching features", 0)  # the run's first pass (no feature cache here)
    assert log.seen == {first_pass: [(1, plain[first_pass][0][1])]}, log.seen  # its first batch only
