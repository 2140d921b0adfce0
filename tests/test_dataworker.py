"""The data worker on real recordings: a task's value or its error crosses the pipe as it was
raised, and each limit (time, memory, the process's death) is a 400 naming the file being read and
the limit; the pool recovers for the next task.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil
import pytest
from configs import TINY
from recordings import LABELS, make_raw, write, write_set

from eegtrain_jupyter.config.training import parse_config
from eegtrain_jupyter.errors import ConfigError, Conflict
from eegtrain_jupyter.runtime.dataworker import PROCESS_NAME, DataWorker

pytestmark = pytest.mark.slow  # forks from the fork server (torch imported once there)


def _files(**data):
    return parse_config(
        {
            **TINY,
            "split_by": "window",
            "data": {
                "source": "files",
                "paths": ["rec/*"],
                "labels": LABELS,
                "channel_map": {"EEG O2-REF": "O2"},
                **data,
            },
        }
    )


def _scan(pool: DataWorker, root, config, **kw):
    return pool.call(
        "scan",
        field="data.paths",
        config=config,
        root_dir=str(root),
        confine=True,
        cache_dir=None,
        **kw,
    )


@pytest.fixture
def pool():
    pool = DataWorker(size=1, timeout_s=60, memory_mb=2048)
    yield pool
    pool.close()


def _data_workers() -> list[psutil.Process]:
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.name() == PROCESS_NAME and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def test_a_scan_runs_in_a_named_process_that_is_kept_for_the_next(pool, tmp_path):
    write_set(tmp_path / "rec")
    summary = _scan(pool, tmp_path, _files())
    assert summary.n_windows > 0 and all(f.path.startswith("rec/") for f in summary.files)
    (pid,) = pool.pids
    assert psutil.Process(pid).name() == PROCESS_NAME and pid != os.getpid()
    _scan(pool, tmp_path, _files())
    assert pool.pids == [pid]  # the same process served both
    pool.close()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_errors_cross_as_raised(pool, tmp_path):
    write_set(tmp_path / "rec")
    with pytest.raises(ConfigError) as info:
        _scan(pool, tmp_path, _files(labels={"blink": "relaxed", "task": "anxious"}))
    assert info.value.errors[0].field == "data.labels" and "'blink'" in info.value.errors[0].message
    (tmp_path / "run").mkdir()
    with pytest.raises(Conflict, match="no checkpoint yet"):  # another status, another class
        pool.call("export", field="format", run_dir=str(tmp_path / "run"), run_id="r", format="onnx")
    assert len(pool.pids) == 1  # an error is an answer: the process is kept


def test_past_the_time_limit_the_process_is_killed_and_the_file_named(pool, tmp_path):
    (tmp_path / "rec").mkdir()
    write(make_raw(1), tmp_path / "rec", "sub-01_task-rest", "fif")
    assert _scan(pool, tmp_path, _files()).n_windows > 0  # the process has read a file before
    for subject in (2, 3, 4):  # an hour each: reading and filtering them takes over a second
        write(
            make_raw(subject, n_blocks=60, block_s=60.0), tmp_path / "rec", f"sub-0{subject}_task-rest", "fif"
        )
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as info:
        _scan(pool, tmp_path, _files(l_freq=0.5, h_freq=45.0), timeout_s=0.3)
    assert time.monotonic() - t0 < 30
    (error,) = info.value.errors
    assert error.field == "data.paths"
    assert "took longer than the 0.3 s limit" in error.message and "data_timeout_s" in error.message
    assert "reading rec/sub-0" in error.message, error.message  # the file it was on
    assert pool.pids == [] and _data_workers() == []  # killed, not kept
    assert _scan(pool, tmp_path, _files()).n_windows > 0  # a fresh process takes the next task


def test_past_the_memory_limit_the_read_fails_and_names_the_limit(tmp_path):
    # one long recording whose windows need far more than 64 MB (the scan reads only the labelled
    # spans, so memory follows the windows): 60 blocks of 60 s, a 4 s window every 0.1 s, 860 MB
    raw = make_raw(1, n_blocks=60, block_s=60.0)
    (tmp_path / "rec").mkdir()
    write(raw, tmp_path / "rec", "sub-01_task-rest", "fif")
    pool = DataWorker(size=1, timeout_s=120, memory_mb=64)
    try:
        with pytest.raises(ConfigError) as info:
            _scan(pool, tmp_path, _files(sliding=True, step_s=0.1))
        (error,) = info.value.errors
        assert "64 MB memory limit" in error.message and "data_memory_mb" in error.message, error.message
        assert "rec/sub-01_task-rest_raw.fif" in error.message
    finally:
        pool.close()


def test_a_killed_worker_is_named_and_replaced(tmp_path):
    (tmp_path / "rec").mkdir()
    for subject in (1, 2, 3):  # an hour each: reading and filtering them takes over a second
        write(
            make_raw(subject, n_blocks=60, block_s=60.0), tmp_path / "rec", f"sub-0{subject}_task-rest", "fif"
        )
    pool = DataWorker(size=1, timeout_s=120, memory_mb=4096)

    def kill_when_reading():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = _data_workers()
            if workers:
                time.sleep(0.2)  # inside the read
                os.kill(workers[0].pid, signal.SIGKILL)
                return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_when_reading)
    killer.start()
    try:
        with pytest.raises(ConfigError) as info:
            _scan(pool, tmp_path, _files(l_freq=0.5, h_freq=45.0))
        killer.join()
        assert "ended the data worker with SIGKILL" in info.value.errors[0].message, info.value.errors
        assert pool.pids == []
        for subject in (2, 3):
            (tmp_path / "rec" / f"sub-0{subject}_task-rest_raw.fif").unlink()
        assert _scan(pool, tmp_path, _files()).n_windows > 0  # a fresh process
    finally:
        pool.close()
