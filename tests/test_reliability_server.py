"""Reliability through a real ``jupyter server --allow-root`` process (issue 6).

* ``kill -9`` of the server mid-epoch (fine-tuning, so epochs are slow), then a restart on
  the same root: the history parses, the checkpoint loads, ``GET training/status`` says
  ``interrupted`` with that history and ``GET training/runs`` lists the run; the restarted
  server trains again.
* A NaN loss injected inside training (a LaBraM weights file full of NaN): ``failed`` with
  ``status.error``, the server process alive, and the next start works.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import requests
import torch

from eegtrain_jupyter import files
from eegtrain_jupyter.data.synthetic import CH_NAMES, N_TIMES, SFREQ
from eegtrain_jupyter.engine import artifacts
from eegtrain_jupyter.models.labram import build_classifier, load_checkpoint
from eegtrain_jupyter.testing import ServerProcess

FINETUNE = {
    "n_epochs": 5,
    "n_samples_per_class": 100,
    "val_split": 0.5,
    "batch_size": 32,
    "freeze_backbone": False,
    "save_dir": "models",
    "device": "cpu",
}
"""Slow epochs (4 fine-tuning batches each) so a kill lands mid-epoch."""
HISTORY_KEYS = ("train_losses", "val_losses", "train_accs", "val_accs")
QUICK = {"n_epochs": 1, "n_samples_per_class": 100, "batch_size": 32, "save_dir": "models", "device": "cpu"}


class Rest:
    def __init__(self, server: ServerProcess):
        self.base = server.url + "training/"
        self.headers = {"Authorization": f"token {server.token}"}

    def get(self, path: str) -> dict:
        r = requests.get(self.base + path, headers=self.headers, timeout=60)
        assert r.status_code == 200, (path, r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("application/json")
        return r.json()

    def post(self, path: str, body: dict | None = None) -> tuple[int, dict]:
        r = requests.post(self.base + path, json=body, headers=self.headers, timeout=60)
        assert r.headers["Content-Type"].startswith("application/json"), r.text
        return r.status_code, r.json()

    def wait_status(self, predicate, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            status = self.get("status")
            if predicate(status):
                return status
            assert time.monotonic() < deadline, f"timed out waiting for {what}; last status {status}"
            time.sleep(0.25)


def _server(root: Path, tmp_path: Path, name: str) -> ServerProcess:
    return ServerProcess(
        root, runtime_dir=tmp_path / f"runtime-{name}", log_path=tmp_path / f"server-{name}.log"
    )


def test_kill_9_mid_epoch_then_restart_shows_interrupted_run(tmp_path):
    root = tmp_path / "root"
    first = _server(root, tmp_path, "first").start()
    try:
        api = Rest(first)
        code, started = api.post("start", FINETUNE)
        assert code == 200, started
        run_id = started["run_id"]
        # wait until epoch 1 is on disk and epoch 2 is part-way, then kill -9
        live = api.wait_status(
            lambda s: (
                s["current_epoch"] >= 1
                and (s["batch"] or {}).get("epoch", 0) >= 2
                and s["batch"]["phase"] == "train"
            ),
            timeout=400,
            what="the first fine-tuning batch of epoch 2",
        )
        assert live["state"] == "training" and live["current_epoch"] < FINETUNE["n_epochs"]
        os.kill(first.pid, signal.SIGKILL)
        first.proc.wait(30)
        assert first.proc.returncode == -signal.SIGKILL
    finally:
        first.stop()

    run_dir = root / "models" / "runs" / run_id
    history = files.read_json(run_dir / artifacts.HISTORY_NAME)  # parses: atomic writes
    n_done = len(history["train_losses"])
    assert n_done >= 1 and all(len(history[k]) == n_done for k in ("val_losses", "train_accs", "val_accs"))
    model, ckpt = load_checkpoint(run_dir / artifacts.SYNTHETIC_CHECKPOINT_NAME)
    assert 1 <= ckpt["epoch"] <= n_done
    assert ckpt["metrics"]["val_acc"] == max(history["val_accs"])
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(2, len(CH_NAMES), N_TIMES))).all()
    record = files.read_json(run_dir / "run.json")
    assert record["state"] == "training"  # what the killed process left behind

    second = _server(root, tmp_path, "second").start()
    try:
        api = Rest(second)
        status = api.get("status")
        assert status["run_id"] == run_id
        assert status["state"] == "interrupted" and status["is_training"] is False
        assert "ended before it finished" in status["error"]
        # the seed's keys and issue 11's validation scores, each as on disk
        assert set(HISTORY_KEYS) <= set(status["history"])
        assert status["history"] == {k: history[k] for k in status["history"]}
        assert status["current_epoch"] == n_done
        assert status["best_val_acc"] == max(history["val_accs"])
        assert api.get("history")["train_losses"] == history["train_losses"]
        runs = api.get("runs")["runs"]
        assert [r["run_id"] for r in runs] == [run_id]
        assert runs[0]["state"] == "interrupted" and runs[0]["config"]["freeze_backbone"] is False
        assert runs[0]["best_val_acc"] == max(history["val_accs"])
        assert files.read_json(run_dir / "run.json")["state"] == "interrupted"  # on disk too
        assert not list(run_dir.glob(".*.tmp"))  # half-written temp files were cleared

        # the restarted server trains again; the interrupted run stays listed
        code, body = api.post("start", QUICK)
        assert code == 200, body
        done = api.wait_status(lambda s: not s["is_training"], 300, "the new run to finish")
        assert done["state"] == "completed", done["error"]
        assert [r["state"] for r in api.get("runs")["runs"]] == ["completed", "interrupted"]
    finally:
        second.stop()


def _nan_weights(path: Path) -> str:
    model, _ = build_classifier(CH_NAMES, N_TIMES, SFREQ, seed=0)
    torch.save(
        {
            k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
            for k, v in model.labram.state_dict().items()
        },
        path,
    )
    return str(path)


def test_nan_loss_in_a_real_server_fails_cleanly_then_next_start_works(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    weights = _nan_weights(root / "nan_labram.pth")
    server = _server(root, tmp_path, "nan").start()
    try:
        api = Rest(server)
        code, body = api.post("start", {**QUICK, "pretrained_weights": weights})
        assert code == 200, body
        status = api.wait_status(lambda s: not s["is_training"], 300, "the NaN run to end")
        assert status["state"] == "failed"
        assert status["error"].startswith("FloatingPointError") and "nan" in status["error"]
        assert server.proc.poll() is None  # the process lives on
        assert api.get("runs")["runs"][0]["state"] == "failed"

        code, body = api.post("start", QUICK)
        assert code == 200, body
        status = api.wait_status(lambda s: not s["is_training"], 300, "the next run to end")
        assert status["state"] == "completed" and status["error"] is None
        assert (root / "models" / artifacts.SYNTHETIC_CHECKPOINT_NAME).is_file()
        assert server.proc.poll() is None
    finally:
        server.stop()
