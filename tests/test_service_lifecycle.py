"""The TrainingManager's life cycle with a fake runtime (no worker process, no LaBraM).

start -> preparing/training -> completed, stopped or failed; 409 while busy; stop; history; the
run records on disk and in the index; a restarted manager. The same life cycle on the real
worker and LaBraM is in test_service.py, test_reliability_service.py and test_worker.py (slow).
"""

from __future__ import annotations

import threading

import pytest
from fake_runtime import FakeRuntime

from eegtrain_jupyter import files
from eegtrain_jupyter.engine import artifacts
from eegtrain_jupyter.errors import AlreadyTrainingError
from eegtrain_jupyter.schemas import RunRecord, Status
from eegtrain_jupyter.service.manager import TrainingManager

CONFIG = {"n_epochs": 3, "n_samples_per_class": 100, "device": "cpu", "save_dir": "models"}


def _threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("eegtrain-") and t.is_alive()]


def _manager(tmp_path, runtime: FakeRuntime) -> TrainingManager:
    return TrainingManager(tmp_path, runtime=runtime, feature_cache=False)


def test_a_run_goes_from_preparing_through_training_to_completed(tmp_path):
    fake = FakeRuntime(hold=True)
    manager = _manager(tmp_path, fake)
    first = manager.start(CONFIG)
    assert first.state == "preparing" and first.is_training and first.total_epochs == 3
    assert fake.waiting.wait(10)
    during = manager.status()
    assert during.state == "training" and during.is_training and during.current_epoch == 0
    assert during.model == "labram" and during.split is not None and during.device == "cpu"
    fake.allow(1)
    while manager.status().current_epoch < 1 or not fake.waiting.is_set():
        assert manager.status().state == "training"
        fake.waiting.wait(0.05)
    assert manager.history().train_losses == [1.0]
    fake.allow(2)
    assert manager.wait(10)
    final = manager.status()
    assert final.state == "completed" and not final.is_training and final.error is None
    assert final.current_epoch == 3 and final.val_acc == final.history.val_accs[-1]
    assert final.best_val_acc == max(final.history.val_accs) and final.best_epoch == 3
    assert final.finished_at is not None and final.elapsed_time is not None
    save_dir = tmp_path / "models"
    run_dir = save_dir / "runs" / final.run_id
    assert final.files == {"history": str(run_dir / artifacts.HISTORY_NAME)}
    assert final.published == {artifacts.HISTORY_NAME: str(save_dir / artifacts.HISTORY_NAME)}
    assert (save_dir / artifacts.HISTORY_NAME).read_bytes() == (run_dir / artifacts.HISTORY_NAME).read_bytes()
    assert fake.specs[0].run_dir == run_dir and fake.specs[0].config.n_epochs == 3
    assert _threads() == []


def test_a_second_start_while_busy_is_refused_then_works_once_the_run_ended(tmp_path):
    fake = FakeRuntime(hold=True)
    manager = _manager(tmp_path, fake)
    run_id = manager.start(CONFIG).run_id
    with pytest.raises(AlreadyTrainingError) as info:
        manager.start(CONFIG)
    assert info.value.status == 409 and info.value.body()["run_id"] == run_id
    fake.allow(3)
    assert manager.wait(10)
    fake.hold = False
    second = manager.start({**CONFIG, "n_epochs": 1})
    assert second.run_id != run_id
    assert manager.wait(10)
    assert [r.state for r in manager.runs()] == ["completed", "completed"]


def test_a_stop_ends_the_run_as_stopped_keeping_its_epochs(tmp_path):
    fake = FakeRuntime(hold=True)
    manager = _manager(tmp_path, fake)
    manager.start(CONFIG)
    fake.allow(1)
    while manager.status().current_epoch < 1:
        fake.waiting.wait(0.05)
    assert manager.stop().state == "stopping"
    assert manager.wait(10)
    status = manager.status()
    assert status.state == "stopped" and not status.is_training and status.error is None
    assert status.current_epoch == 1 and status.published == {}  # a stopped run publishes nothing
    assert not (tmp_path / "models" / artifacts.HISTORY_NAME).exists()
    assert manager.stop().state == "stopped"  # idle: a no-op


@pytest.mark.parametrize("fail_after", [0, 2])
def test_a_failed_run_records_its_error_and_the_next_start_works(tmp_path, fail_after):
    fake = FakeRuntime(
        fail_after=fail_after, error="WorkerDied: the training worker (pid 1) exited with code 3"
    )
    manager = _manager(tmp_path, fake)
    manager.start(CONFIG)
    assert manager.wait(10)
    status = manager.status()
    assert status.state == "failed" and status.error == fake.error and status.current_epoch == fail_after
    assert status.published == {} and (artifacts.HISTORY_NAME in str(status.files)) == (fail_after > 0)
    record = files.read_json(tmp_path / "models" / "runs" / status.run_id / "run.json")
    assert record["state"] == "failed" and record["error"] == fake.error
    fake.fail_after = None
    manager.start(CONFIG)
    assert manager.wait(10)
    assert [r.state for r in manager.runs()] == ["completed", "failed"]


def test_a_failure_while_publishing_fails_the_run_and_leaves_the_manager_free(tmp_path):
    (tmp_path / "models" / artifacts.HISTORY_NAME).mkdir(parents=True)  # os.replace onto a folder fails
    manager = _manager(tmp_path, FakeRuntime())
    manager.start(CONFIG)
    assert manager.wait(10)
    status = manager.status()
    assert status.state == "failed" and not manager.is_active()
    assert "could not be copied" in (status.error or "") and status.current_epoch == 3
    assert status.files  # the run's own files stay listed


def test_run_records_index_and_a_restarted_manager_agree(tmp_path):
    manager = _manager(tmp_path, FakeRuntime())
    run_ids = []
    for n_epochs in (2, 1):
        run_ids.append(manager.start({**CONFIG, "n_epochs": n_epochs}).run_id)
        assert manager.wait(10)
    records = manager.runs()
    assert [r.run_id for r in records] == run_ids[::-1]
    for record in records:
        on_disk = RunRecord.model_validate(
            {
                k: v
                for k, v in files.read_json(tmp_path / "models" / "runs" / record.run_id / "run.json").items()
                if k != "owner"
            }
        )
        assert on_disk == record
        assert (
            record.epochs_completed == record.config.n_epochs
            and len(record.epoch_times) == record.epochs_completed
        )
        assert record.duration is not None and record.duration > 0 and record.world_size == 1
    history = manager.history()
    assert history.run_id == run_ids[-1] and history.state == "completed" and len(history.val_accs) == 1

    again = TrainingManager(tmp_path, runtime=FakeRuntime())
    assert again.status().run_id == run_ids[-1] and again.status().state == "completed"
    assert [r.run_id for r in again.runs()] == run_ids[::-1]
    assert again.history().val_accs == history.val_accs


def test_the_status_and_the_record_share_one_run_outcome(tmp_path):
    manager = _manager(tmp_path, FakeRuntime())
    manager.start(CONFIG)
    assert manager.wait(10)
    status, (record,) = manager.status(), manager.runs()
    shared = set(Status.model_fields) & set(RunRecord.model_fields)
    assert shared and status.model_dump(include=shared) == record.model_dump(include=shared)
