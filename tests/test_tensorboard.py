"""TensorBoard: every run writes event files under ``save_dir/tensorboard/<run_id>`` that
TensorBoard's own reader parses, with one point per epoch."""

from __future__ import annotations

import pytest
from configs import QUICK
from support import require

from eegtrain_jupyter.engine.tensorboard import TENSORBOARD_DIR
from eegtrain_jupyter.service.manager import TrainingManager

event_accumulator = require("tensorboard.backend.event_processing.event_accumulator")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.slow  # one short training run
def test_a_run_writes_event_files_tensorboard_can_read(tmp_path):
    manager = TrainingManager(tmp_path, thread_settings=None)
    run_id = manager.start({**QUICK, "model": "shallow_fbcsp"}).run_id
    assert manager.wait(120)
    status = manager.status()
    assert status.state.value == "completed", status.error
    assert status.model == "shallow_fbcsp" and status.n_parameters and status.n_parameters > 1000

    log_dir = tmp_path / QUICK["save_dir"] / TENSORBOARD_DIR / run_id
    assert list(log_dir.glob("events.out.tfevents.*"))
    acc = event_accumulator.EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    expected = {"loss/train", "loss/val", "accuracy/train", "accuracy/val", "time/epoch_s"}
    assert expected <= set(tags["scalars"])
    val = acc.Scalars("accuracy/val")
    assert [e.step for e in val] == [1, 2]
    # the same numbers as the run's history (validation split accuracy, %)
    assert [e.value for e in val] == pytest.approx(status.history.val_accs, abs=1e-4)
    train_losses = [e.value for e in acc.Scalars("loss/train")]
    assert train_losses == pytest.approx(status.history.train_losses, rel=1e-5)
    assert any("config" in t for t in tags["tensors"])  # text summaries are stored as tensors
