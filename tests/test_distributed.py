"""Several training processes through torchrun (issue 14), gloo on this machine's CPU.

* 2 ranks on one node (``devices="cpu:2"``): after one fine-tune epoch with the same global
  batch, the weights equal the single-process run's within 1e-5;
* 2 "nodes" of 1 rank each, rendezvous on localhost: node 0 started by the service, node 1 by
  ``eegtrain worker``;
* a rank killed mid-run: the run fails, naming the exit, and no process is left behind;
* a stop reaches every rank within one batch (the stop flag is all-reduced before each batch);
* augmentation applies to each rank's shard of a training batch.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading

import psutil
import pytest
import torch
from configs import FINETUNE_TINY, TINY

from eegtrain_jupyter.engine import artifacts
from eegtrain_jupyter.engine.events import TrainingListener
from eegtrain_jupyter.service.manager import TrainingManager

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # each test starts torchrun and trains


class Reached(TrainingListener):
    def __init__(self, phase: str = "train", batch: int = 2):
        self.phase, self.batch, self.reached = phase, batch, threading.Event()

    def on_batch(self, *, epoch, batch, n_batches, phase, **running) -> None:
        if phase == self.phase and batch >= self.batch:
            self.reached.set()


def _weights(status) -> dict[str, torch.Tensor]:
    ckpt = torch.load(os.path.join(status.run_dir, artifacts.SYNTHETIC_CHECKPOINT_NAME), weights_only=True)
    return ckpt["model_state_dict"]


def _train(manager: TrainingManager, config: dict):
    manager.start(config)
    assert manager.wait(600)
    status = manager.status()
    assert status.state == "completed", status.error
    return status


def _descendants() -> list[psutil.Process]:
    """Live processes below this one other than multiprocessing's fork server and tracker
    (forked workers share the fork server's command line; torchrun jobs do not)."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
            if (
                p.status() != psutil.STATUS_ZOMBIE
                and "forkserver" not in cmd
                and "resource_tracker" not in cmd
            ):
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FT = {**FINETUNE_TINY, "val_split": 0.5, "save_dir": "out"}
"""100 training windows, global batch 16: 7 steps (the last of 4 windows), 100 validation windows."""


def test_two_ranks_give_the_weights_of_one_rank(tmp_path):
    manager = TrainingManager(tmp_path)
    one = _train(manager, FT)
    two = _train(manager, {**FT, "devices": "cpu:2"})
    a, b = _weights(one), _weights(two)
    assert a.keys() == b.keys()
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    init = _weights_at_init()
    moved = max(float((a[k].float() - init[k].float()).abs().max()) for k in a)
    assert moved > 1e-3, "the weights did not train"
    assert diff <= 1e-5, f"2-rank weights differ from 1-rank weights by {diff:.3g}"
    # metrics are all-reduced: the same training loss/accuracy over the same windows
    assert two.history.train_accs == pytest.approx(one.history.train_accs, abs=1e-6)
    assert two.history.val_accs == pytest.approx(one.history.val_accs, abs=1e-6)
    assert two.history.train_losses == pytest.approx(one.history.train_losses, rel=1e-5)
    assert _descendants() == []


def test_sharded_steps_augment_their_windows(tmp_path):
    # sign_flip with probability 1 negates every training window whatever the generator draws, so
    # the 2-rank run equals the 1-rank one only when every rank augments its shard
    manager = TrainingManager(tmp_path)
    flip = {**FT, "augmentation": ["sign_flip"], "augmentation_p": 1.0}
    a, b = _weights(_train(manager, flip)), _weights(_train(manager, {**flip, "devices": "cpu:2"}))
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert diff <= 1e-5, f"2-rank weights differ from 1-rank weights by {diff:.3g}"


def _weights_at_init() -> dict[str, torch.Tensor]:
    from eegtrain_jupyter.data.synthetic import CH_NAMES, N_TIMES, SFREQ
    from eegtrain_jupyter.models.labram import build_classifier

    model, _ = build_classifier(CH_NAMES, N_TIMES, SFREQ, seed=FT.get("seed", 42))
    return model.labram.state_dict()


def test_two_nodes_of_one_rank_through_a_localhost_rendezvous(tmp_path):
    port = _free_port()
    nodes = {"devices": "cpu:1", "nnodes": 2, "rdzv_endpoint": f"127.0.0.1:{port}"}
    manager = TrainingManager(tmp_path)
    manager.start({**TINY, "save_dir": "out", **nodes, "node_rank": 0})  # frozen: a sharded feature pass
    other = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eegtrain_jupyter.cli",
            "worker",
            "--nnodes",
            "2",
            "--node-rank",
            "1",
            "--rdzv-endpoint",
            nodes["rdzv_endpoint"],
            "--devices",
            "cpu:1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert manager.wait(600)
        out, _ = other.communicate(timeout=120)
    finally:
        other.kill()
    status = manager.status()
    assert status.state == "completed", status.error
    assert other.returncode == 0, out[-3000:]
    assert status.current_epoch == 1 and (tmp_path / "out" / artifacts.SYNTHETIC_CHECKPOINT_NAME).is_file()
    assert _descendants() == []


def test_a_rank_killed_mid_run_fails_the_run_and_leaves_no_process(tmp_path):
    reached = Reached("train", 2)
    manager = TrainingManager(tmp_path, listeners=[reached])
    manager.start({**FT, "n_epochs": 3, "devices": "cpu:2"})
    assert reached.reached.wait(600)
    ranks = {}
    for p in psutil.Process(manager.worker_pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            ranks[p.environ().get("RANK")] = p
    assert {"0", "1"} <= ranks.keys(), ranks
    os.kill(ranks["1"].pid, signal.SIGKILL)
    assert manager.wait(120)
    status = manager.status()
    assert status.state == "failed", status
    assert "WorkerDied" in status.error or "Error" in status.error, status.error
    psutil.wait_procs(list(ranks.values()), timeout=30)
    assert not [p for p in ranks.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert _descendants() == []


def test_a_stop_reaches_every_rank_within_one_batch(tmp_path):
    import time

    class Clock(Reached):
        def __init__(self, phase: str, batch: int):
            super().__init__(phase, batch)
            self.times: list[float] = []

        def on_batch(self, **batch) -> None:
            self.times.append(time.monotonic())
            super().on_batch(**batch)

    clock = Clock("train", 2)
    manager = TrainingManager(tmp_path, listeners=[clock])
    manager.start({**FT, "n_epochs": 3, "devices": "cpu:2"})
    assert clock.reached.wait(600)
    manager.stop()
    t_stop = time.monotonic()
    assert manager.wait(120)
    status = manager.status()
    assert status.state == "stopped" and status.error is None, status.error
    assert sum(1 for t in clock.times if t > t_stop) <= 1
    assert _descendants() == []  # every rank ended (a rank still training would hang torchrun)
