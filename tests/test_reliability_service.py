"""Reliability of the TrainingManager (issue 6), on the real LaBraM, no mocks.

* 20 start/stop cycles: no leaked threads, each stop takes effect within one batch;
* an exception or a NaN loss inside training: state ``failed`` with ``status.error``, next start works;
* a failure after training (publishing the outputs) never leaves the manager stuck "active";
* the memory check refusing a run: a clear error, no thread, no run folder;
* the runs-on-disk contract: ``save_dir/runs/<run_id>/`` and the seed's three files;
* recovery from a damaged index or run folder.
"""

from __future__ import annotations

import filecmp
import json
import os
import threading
import time

import pytest
import torch

from eegtrain_jupyter import files
from eegtrain_jupyter.data.synthetic import CH_NAMES, N_TIMES, SFREQ
from eegtrain_jupyter.engine import artifacts
from eegtrain_jupyter.engine.events import TrainingListener
from eegtrain_jupyter.errors import AlreadyTrainingError, ResourceError
from eegtrain_jupyter.models.labram import build_classifier, load_checkpoint
from eegtrain_jupyter.service.manager import TrainingManager

TINY = {"n_epochs": 1, "n_samples_per_class": 100, "batch_size": 32, "freeze_backbone": True, "device": "cpu"}


def _eegtrain_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("eegtrain-") and t.is_alive()]


class BatchClock(TrainingListener):
    """Records when each batch finished; ``reached`` fires once ``target`` batches are done."""

    def __init__(self, pause: float = 0.0):
        self.times: list[float] = []
        self.pause = pause
        self.target = 0
        self.reached = threading.Event()

    def reset(self, target: int) -> None:
        self.times = []
        self.target = target
        self.reached.clear()
        if target == 0:
            self.reached.set()

    def on_batch(self, *, epoch, batch, n_batches, phase, **running) -> None:
        self.times.append(time.monotonic())
        if len(self.times) >= self.target:
            self.reached.set()
        if self.pause:
            time.sleep(self.pause)  # slows the loop so a stop lands between batches


@pytest.mark.slow
def test_twenty_start_stop_cycles_no_leaked_threads_stop_within_one_batch(tmp_path):
    baseline = set(threading.enumerate())
    clock = BatchClock(pause=0.05)
    manager = TrainingManager(tmp_path, listeners=[clock])
    # 4 feature-caching batches, then 5 train + 1 val per epoch: stop in every phase
    targets = [0, 1, 0, 2, 0, 1, 0, 5, 0, 7]
    after_stop, states = [], []
    for cycle in range(20):
        clock.reset(targets[cycle % len(targets)])
        status = manager.start({**TINY, "n_epochs": 3, "save_dir": "out", "seed": cycle}).to_json()
        assert status["state"] == "preparing"
        assert len(_eegtrain_threads()) == 1
        assert clock.reached.wait(60), f"cycle {cycle}: never reached batch {clock.target}"
        stopped = manager.stop().to_json()
        t_stop = time.monotonic()
        assert stopped["state"] in ("stopping", "stopped", "completed")
        assert manager.wait(60), f"cycle {cycle}: the thread did not end after stop"
        after_stop.append(sum(1 for t in clock.times if t > t_stop))
        states.append(manager.status().state)
        assert not manager.is_active()
        assert _eegtrain_threads() == [], f"cycle {cycle}: leaked {_eegtrain_threads()}"
    assert max(after_stop) <= 1, f"batches processed after stop() returned, per cycle: {after_stop}"
    assert states.count("stopped") >= 18, states  # a stop may only lose the race to the very end
    assert set(threading.enumerate()) <= baseline
    assert len(manager.runs()) == 20
    # stop when idle is a no-op, and the manager still trains to completion afterwards
    assert manager.stop().state in ("stopped", "completed")


@pytest.mark.slow  # the real worker and LaBraM; the life cycle alone: test_service_lifecycle.py
def test_start_while_active_is_refused(tmp_path):
    manager = TrainingManager(tmp_path)
    manager.start({**TINY, "save_dir": "out"})
    try:
        with pytest.raises(AlreadyTrainingError):
            manager.start({**TINY, "save_dir": "out"})
    finally:
        manager.shutdown()
    assert _eegtrain_threads() == []


class Boom(TrainingListener):
    """Raises inside the training thread at the given batch of the given phase."""

    def __init__(self, phase: str = "train", batch: int = 2):
        self.phase, self.batch, self.armed = phase, batch, True

    def on_batch(self, *, epoch, batch, n_batches, phase, **running) -> None:
        if self.armed and phase == self.phase and batch == self.batch:
            raise RuntimeError(f"injected failure in batch {batch}")


@pytest.mark.slow  # the real worker and LaBraM; the life cycle alone: test_service_lifecycle.py
def test_exception_inside_training_marks_failed_then_next_start_works(tmp_path):
    boom = Boom()
    manager = TrainingManager(tmp_path, listeners=[boom])
    manager.start({**TINY, "save_dir": "out"})
    assert manager.wait(120)
    status = manager.status().to_json()
    assert status["state"] == "failed"
    assert not status["is_training"]
    assert "RuntimeError" in status["error"] and "injected failure" in status["error"]
    record = files.read_json(tmp_path / "out" / "runs" / status["run_id"] / "run.json")
    assert record["state"] == "failed" and record["error"] == status["error"]
    assert _eegtrain_threads() == []

    boom.armed = False
    manager.start({**TINY, "save_dir": "out"})
    assert manager.wait(120)
    status = manager.status().to_json()
    assert status["state"] == "completed", status["error"]
    assert status["error"] is None and status["current_epoch"] == 1
    assert [r.state for r in manager.runs()] == ["completed", "failed"]


def nan_weights(path) -> str:
    """A LaBraM state_dict of the right shapes, every float tensor NaN: training loss becomes NaN."""
    model, _ = build_classifier(CH_NAMES, N_TIMES, SFREQ, seed=0)
    state = {
        k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
        for k, v in model.labram.state_dict().items()
    }
    torch.save(state, path)
    return str(path)


def test_nan_loss_marks_failed_then_next_start_works(tmp_path):
    weights = nan_weights(tmp_path / "nan_labram.pth")
    manager = TrainingManager(tmp_path)
    manager.start({**TINY, "save_dir": "out", "pretrained_weights": weights})
    assert manager.wait(120)
    status = manager.status().to_json()
    assert status["state"] == "failed"
    assert status["error"].startswith("FloatingPointError") and "nan" in status["error"].lower()
    run_dir = tmp_path / "out" / "runs" / status["run_id"]
    assert not (run_dir / artifacts.SYNTHETIC_CHECKPOINT_NAME).exists()  # no NaN model saved as "best"
    assert not (tmp_path / "out" / artifacts.SYNTHETIC_CHECKPOINT_NAME).exists()

    manager.start({**TINY, "save_dir": "out"})
    assert manager.wait(120)
    assert manager.status().state == "completed"
    assert (tmp_path / "out" / artifacts.SYNTHETIC_CHECKPOINT_NAME).exists()


@pytest.mark.slow  # the real worker and LaBraM; the life cycle alone: test_service_lifecycle.py
def test_failure_while_publishing_outputs_does_not_leave_the_manager_stuck(tmp_path):
    # a folder where the seed's checkpoint file goes: os.replace onto it fails after training
    (tmp_path / "out" / artifacts.SYNTHETIC_CHECKPOINT_NAME).mkdir(parents=True)
    manager = TrainingManager(tmp_path)
    manager.start({**TINY, "save_dir": "out"})
    assert manager.wait(120)
    status = manager.status().to_json()
    assert not manager.is_active(), status["state"]
    assert status["state"] == "failed"
    assert artifacts.SYNTHETIC_CHECKPOINT_NAME in status["error"]
    assert status["current_epoch"] == 1  # the finished epoch is kept
    assert (tmp_path / "out" / "runs" / status["run_id"] / artifacts.SYNTHETIC_CHECKPOINT_NAME).is_file()
    (tmp_path / "out" / artifacts.SYNTHETIC_CHECKPOINT_NAME).rmdir()
    manager.start({**TINY, "save_dir": "out"})
    assert manager.wait(120)
    assert manager.status().state == "completed"


def test_memory_check_refuses_with_clear_error_and_starts_nothing(tmp_path):
    manager = TrainingManager(tmp_path, min_free_memory_mb=10**9)
    before = set(threading.enumerate())
    with pytest.raises(ResourceError) as info:
        manager.start({**TINY, "save_dir": "out"})
    message = str(info.value)
    assert "not enough memory" in message and "MB" in message
    assert "n_samples_per_class" in message  # says what to lower
    assert set(threading.enumerate()) == before
    assert _eegtrain_threads() == []
    assert not (tmp_path / "out").exists()  # no save_dir, no run folder
    assert not (tmp_path / ".eegtrain" / "runs.json").exists()
    assert manager.status().state == "idle" and manager.runs() == []
    assert not manager.is_active()


@pytest.mark.slow  # the real worker and LaBraM; the life cycle alone: test_service_lifecycle.py
def test_runs_on_disk_contract(tmp_path):
    manager = TrainingManager(tmp_path)
    save_dir = tmp_path / "models"
    run_ids = []
    for n_epochs in (2, 1):
        manager.start({**TINY, "n_epochs": n_epochs, "save_dir": "models", "seed": n_epochs})
        assert manager.wait(120)
        status = manager.status().to_json()
        assert status["state"] == "completed"
        run_ids.append(status["run_id"])
        run_dir = save_dir / "runs" / status["run_id"]
        assert status["run_dir"] == str(run_dir)
        record = files.read_json(run_dir / "run.json")
        assert record["config"]["n_epochs"] == n_epochs and record["state"] == "completed"
        history = files.read_json(run_dir / artifacts.HISTORY_NAME)
        assert len(history["train_losses"]) == len(history["val_accs"]) == n_epochs
        assert history["config"] == record["config"]
        model, ckpt = load_checkpoint(run_dir / artifacts.SYNTHETIC_CHECKPOINT_NAME)
        assert ckpt["config"]["n_epochs"] == n_epochs
        with torch.no_grad():
            assert model(torch.zeros(2, len(CH_NAMES), N_TIMES)).shape == (2, 2)
        assert (run_dir / artifacts.CURVES_NAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        # the seed's three files in save_dir are this run's
        for name in artifacts.output_names({}):
            assert filecmp.cmp(save_dir / name, run_dir / name, shallow=False), name
        assert not list(save_dir.glob(".*.tmp")) and not list(run_dir.glob(".*.tmp"))

    # a run stopped before finishing an epoch leaves the published files alone
    clock = BatchClock()
    manager.listeners.append(clock)
    clock.reset(1)
    manager.start({**TINY, "save_dir": "models"})
    clock.reached.wait(60)
    manager.stop()
    assert manager.wait(60)
    stopped = manager.status().to_json()
    assert stopped["state"] == "stopped" and stopped["current_epoch"] == 0
    for name in artifacts.output_names({}):
        assert filecmp.cmp(save_dir / name, save_dir / "runs" / run_ids[-1] / name, shallow=False)

    runs = [r.to_json() for r in manager.runs()]
    assert [r["run_id"] for r in runs] == [stopped["run_id"], *reversed(run_ids)]
    for r in runs:
        assert {"config", "state", "best_val_acc", "duration", "started_at", "finished_at"} <= r.keys()
        assert r["duration"] > 0
    assert [r["state"] for r in runs] == ["stopped", "completed", "completed"]
    assert runs[0]["best_val_acc"] is None
    assert runs[1]["config"]["n_epochs"] == 1 and runs[2]["config"]["n_epochs"] == 2
    assert all(0 <= r["best_val_acc"] <= 100 for r in runs[1:])
    index = json.loads((tmp_path / ".eegtrain" / "runs.json").read_text())
    assert [e["run_id"] for e in index] == [*run_ids, stopped["run_id"]]

    # a new manager (a restarted server) sees the same runs and the last run's record
    again = TrainingManager(tmp_path)
    assert again.status().run_id == stopped["run_id"]
    assert again.status().state == "stopped"
    assert [r.run_id for r in again.runs()] == [r["run_id"] for r in runs]


def test_recovery_survives_damaged_index_and_run_folders(tmp_path):
    (tmp_path / ".eegtrain").mkdir()
    index = tmp_path / ".eegtrain" / "runs.json"
    index.write_text("{not json")
    manager = TrainingManager(tmp_path)
    assert manager.status().state == "idle" and manager.runs() == []

    # index pointing at a deleted run and at a run folder with a garbage run.json
    bad = tmp_path / "out" / "runs" / "bad"
    bad.mkdir(parents=True)
    (bad / "run.json").write_text('{"run_id": "bad"}')
    index.write_text(json.dumps({"run_id": "not a list"}))
    assert TrainingManager(tmp_path).runs() == []
    index.write_text(
        json.dumps(
            [
                "junk",
                {"run_id": "gone", "run_dir": str(tmp_path / "gone")},
                {"run_id": "bad", "run_dir": str(bad)},
            ]
        )
    )
    manager = TrainingManager(tmp_path)
    assert manager.status().state == "idle" and manager.runs() == []
    manager.start({**TINY, "save_dir": "out"})
    assert manager.wait(120)
    assert manager.status().state == "completed"
    assert [r.state for r in manager.runs()] == ["completed"]  # damaged records are skipped


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("save_dir", "bad\x00name", "null byte"),
        ("save_dir", "x" * 5000, "too long"),
        ("save_dir", "a_file/models", "is a file"),
        ("save_dir", "a_file", "not a directory"),
        ("pretrained_weights", "missing.pth", "not found: missing.pth"),
        ("pretrained_weights", "nul\x00.pth", "null byte"),  # same path rules as save_dir
    ],
)
def test_unusable_paths_are_field_errors_and_start_nothing(tmp_path, field, value, words):
    (tmp_path / "a_file").write_text("not a folder")
    manager = TrainingManager(tmp_path, confine_to_root=True)
    result = manager.validate({**TINY, field: value}).to_json()
    assert not result["valid"]
    assert [e["field"] for e in result["errors"]] == [field]
    assert words in result["errors"][0]["message"] and len(result["errors"][0]["message"]) < 300
    from eegtrain_jupyter.config.training import ConfigError

    with pytest.raises(ConfigError) as info:
        manager.start({**TINY, field: value})
    assert [e.field for e in info.value.errors] == [field]
    assert _eegtrain_threads() == [] and manager.status().state == "idle"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing written


_HOLDER = r"""
import sys, time
from eegtrain_jupyter.engine.events import TrainingListener
from eegtrain_jupyter.service import TrainingManager

class Hold(TrainingListener):
    def on_setup(self, **kw):
        print("READY", flush=True)
        time.sleep(600)  # a run that stays active without using the CPU

m = TrainingManager(sys.argv[1], listeners=[Hold()])
print(m.start({"n_epochs": 1, "n_samples_per_class": 100, "save_dir": "out", "device": "cpu"}).run_id,
      flush=True)
m.wait()
"""


@pytest.mark.slow
def test_a_second_process_on_the_same_root_leaves_a_live_run_alone(tmp_path):
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        run_id = proc.stdout.readline().strip()
        assert proc.stdout.readline().strip() == "READY", "the other process never began"
        record_path = tmp_path / "out" / "runs" / run_id / "run.json"
        # e.g. a kernel or the CLI opening the server's root while the server trains
        other = TrainingManager(tmp_path)
        assert other.status().state == "idle"  # not ours, and not "interrupted"
        assert [(r.run_id, r.state) for r in other.runs()] == [(run_id, "preparing")]
        assert "owner" not in other.runs()[0].to_json()
        assert files.read_json(record_path)["state"] == "preparing"  # left untouched
        # this process may train too; both runs are indexed (the index is locked between processes)
        other.start({**TINY, "save_dir": "out"})
        assert other.wait(120) and other.status().state == "completed"
        assert [r.run_id for r in other.runs()][1] == run_id
    finally:
        proc.kill()
        proc.wait(30)
    # once that process is gone, the run is recovered as interrupted, and the temp files of
    # writes the kill cut short are removed; a live process's temp file and other files stay
    stale = record_path.parent / f".training_history.json.{proc.pid}.k1ll3d.tmp"
    stale.write_text('{"train_losses": [0.')
    live = record_path.parent / f".training_history.json.{os.getpid()}.wr1t1ng.tmp"
    live.write_text('{"train_losses": [0.')
    keep = record_path.parent / "notes.txt"
    keep.write_text("mine")
    after = TrainingManager(tmp_path)
    assert [(r.run_id, r.state) for r in after.runs()][1] == (run_id, "interrupted")
    record = files.read_json(record_path)
    assert record["state"] == "interrupted" and "ended before it finished" in record["error"]
    assert not stale.exists() and keep.read_text() == "mine"
    assert live.exists(), "recovery deleted a temp file of a live process"
