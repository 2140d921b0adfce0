"""TrainingManager: the seed's status shape, one run at a time, outputs published."""

from __future__ import annotations

import threading

import pytest

from eegtrain_jupyter.engine import artifacts
from eegtrain_jupyter.errors import AlreadyTrainingError, ConfigError
from eegtrain_jupyter.service.manager import TrainingManager, format_duration

SEED_STATUS_KEYS = {
    "is_training",
    "current_epoch",
    "total_epochs",
    "train_loss",
    "val_loss",
    "train_acc",
    "val_acc",
    "best_val_acc",
    "elapsed_time",
    "elapsed_time_formatted",
    "eta",
    "eta_formatted",
    "config",
    "history",
}
EXTRA_KEYS = {
    "version",
    "state",
    "phase",
    "batch",
    "error",
    "run_id",
    "device",
    "precision",
    "backbone",
    "best_epoch",
    "world_size",
    "started_at",
    "finished_at",
    "run_dir",
    "save_dir",
    "files",
    "published",
    "precision_reason",
    "model",
    "n_parameters",
    "n_trainable",
    "split",
    "early_stopped",
    "test_report",
    "job",
}
HISTORY_KEYS = {
    "train_losses",
    "val_losses",
    "train_accs",
    "val_accs",  # the seed's, then issue 11's
    "val_balanced_accs",
    "val_macro_f1s",
    "val_roc_aucs",
}


def check_shape(status):
    assert set(status) == SEED_STATUS_KEYS | EXTRA_KEYS
    assert set(status["history"]) == HISTORY_KEYS
    assert isinstance(status["is_training"], bool)
    assert isinstance(status["current_epoch"], int) and isinstance(status["total_epochs"], int)


@pytest.mark.parametrize(("seconds", "text"), [(None, None), (5.04, "5.0s"), (125.3, "2.1m"), (5400, "1.5h")])
def test_format_duration_matches_the_seed(seconds, text):
    assert format_duration(seconds) == text


def test_idle_status(tmp_path):
    status = TrainingManager(tmp_path).status().to_json()
    check_shape(status)
    assert status["state"] == "idle" and status["is_training"] is False and status["run_id"] is None
    assert status["config"]["n_epochs"] == 15


@pytest.mark.slow  # the real worker and LaBraM; the life cycle alone: test_service_lifecycle.py
def test_one_run_at_a_time_then_outputs_published(tmp_path, tiny):
    manager = TrainingManager(tmp_path)
    first = manager.start({**tiny, "n_epochs": 2, "save_dir": "models"}).to_json()
    check_shape(first)
    assert first["is_training"] and first["state"] == "preparing" and first["total_epochs"] == 2
    with pytest.raises(AlreadyTrainingError, match="Training already in progress"):
        manager.start(tiny)
    seen_training = []
    while not manager.wait(0.05):
        status = manager.status().to_json()
        check_shape(status)
        if status["state"] == "training" and status["eta"] is not None:
            seen_training.append(status)
    final = manager.status().to_json()
    check_shape(final)
    assert final["state"] == "completed" and final["is_training"] is False and final["error"] is None
    assert final["current_epoch"] == 2 and len(final["history"]["val_accs"]) == 2
    assert final["val_acc"] == final["history"]["val_accs"][-1]
    assert final["best_val_acc"] == max(final["history"]["val_accs"])
    assert final["elapsed_time"] > 0 and final["elapsed_time_formatted"].endswith("s")
    assert final["backbone"]["origin"] == "random" and final["device"] == "cpu"
    assert seen_training, "status never showed training with an ETA"
    save_dir = tmp_path / "models"
    assert final["save_dir"] == str(save_dir)
    for name in artifacts.output_names({}):
        assert (save_dir / name).read_bytes() == (save_dir / "runs" / final["run_id"] / name).read_bytes()
    assert manager.history().val_accs == final["history"]["val_accs"]
    assert [r.run_id for r in manager.runs()] == [final["run_id"]]
    assert not [t for t in threading.enumerate() if t.name.startswith("eegtrain-")]
    # a second run may start once the first has ended
    manager.start({**tiny, "save_dir": "models"})
    manager.stop()
    assert manager.wait(60)
    assert manager.status().state == "stopped"


def test_invalid_config_starts_nothing(tmp_path):
    manager = TrainingManager(tmp_path)
    with pytest.raises(ConfigError) as info:
        manager.start({"n_epochs": 0, "batch_size": "big"})
    assert {e.field for e in info.value.errors} == {"n_epochs", "batch_size"}
    assert manager.status().state == "idle" and not (tmp_path / ".eegtrain").exists()


def test_save_dir_confined_to_root(tmp_path):
    manager = TrainingManager(tmp_path / "root", confine_to_root=True)
    for bad in ("../outside", str(tmp_path / "elsewhere")):
        result = manager.validate({"save_dir": bad})
        assert not result.valid and result.errors[0].field == "save_dir"
    assert manager.validate({"save_dir": "inside/models"}).valid


def test_pretrained_weights_resolve_against_root_and_stay_inside(tmp_path, tiny):
    """Like save_dir: relative to the root (not the process's cwd), confined when asked."""
    import torch

    from eegtrain_jupyter.data.synthetic import CH_NAMES
    from eegtrain_jupyter.models.labram import build_classifier

    root = tmp_path / "root"
    (root / "weights").mkdir(parents=True)
    donor, _ = build_classifier(CH_NAMES, 800, 200.0, seed=1)
    torch.save(donor.labram.state_dict(), root / "weights" / "labram.pth")
    outside = tmp_path / "outside.pth"
    torch.save(donor.labram.state_dict(), outside)
    manager = TrainingManager(root, confine_to_root=True)
    for bad, message in (
        (str(outside), "inside the server root"),
        ("../outside.pth", "inside the server root"),
        ("weights/missing.pth", "not found: missing.pth"),
    ):
        result = manager.validate({"pretrained_weights": bad})
        assert not result.valid and result.errors[0].field == "pretrained_weights", bad
        assert message in result.errors[0].message
    assert manager.validate({"pretrained_weights": "weights/labram.pth"}).valid

    status = manager.start({**tiny, "pretrained_weights": "weights/labram.pth", "save_dir": "out"}).to_json()
    assert status["config"]["pretrained_weights"] == str(root / "weights" / "labram.pth")
    assert manager.wait(120)
    final = manager.status().to_json()
    assert final["state"] == "completed", final["error"]
    assert final["backbone"]["origin"] == "pretrained"
    assert final["backbone"]["weights_path"] == str(root / "weights" / "labram.pth")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"this is not a checkpoint", "not a PyTorch state_dict: weights.pth"),
        ("tensors", "'weights.pth' matches only 0 of the 221 tensors of LaBraM's backbone"),
    ],
)
def test_a_bad_weights_file_is_refused_before_the_run_starts(tmp_path, tiny, content, words):
    import torch

    path = tmp_path / "weights.pth"
    if content == "tensors":
        torch.save({"conv.weight": torch.zeros(3, 3), "fc.bias": torch.zeros(2)}, path)
    else:
        path.write_bytes(content)
    manager = TrainingManager(tmp_path, confine_to_root=True)
    result = manager.validate({**tiny, "pretrained_weights": "weights.pth"})
    assert not result.valid and result.errors[0].field == "pretrained_weights"
    message = result.errors[0].message
    assert message.startswith(words) and str(tmp_path) not in message and "weights_only" not in message
    with pytest.raises(ConfigError) as info:
        manager.start({**tiny, "pretrained_weights": "weights.pth", "save_dir": "out"})
    assert info.value.errors[0].message == message
    assert manager.status().state == "idle" and not (tmp_path / "out").exists()


def test_status_names_the_package_version(tmp_path):
    from eegtrain_jupyter import __version__

    assert __version__ and __version__ != "0+unknown"  # read from the installed metadata
    assert TrainingManager(tmp_path).status().version == __version__


def test_a_start_refused_after_its_folder_was_made_leaves_no_folder(tmp_path, tiny):
    """A run index that cannot be written (here: a folder in its place) refuses the start with a
    message naming the cause, and removes the run folders the start had made."""
    from eegtrain_jupyter.errors import ResourceError

    manager = TrainingManager(tmp_path)
    (tmp_path / ".eegtrain" / "runs.json").mkdir(parents=True)
    with pytest.raises(ResourceError, match="cannot record the run in the run index"):
        manager.start({**tiny, "save_dir": "fresh/models"})
    assert not (tmp_path / "fresh").exists()
    assert manager.status().state.value == "idle"
