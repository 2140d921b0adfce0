"""The ``eegtrain`` command: config, validate, a real training with Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from eegtrain_jupyter.cli.main import build_parser, main
from eegtrain_jupyter.config.training import TrainingConfig, field_specs
from eegtrain_jupyter.engine import artifacts

EEGTRAIN = [sys.executable, "-m", "eegtrain_jupyter.cli"]


def test_config_prints_defaults(capsys):
    assert main(["config"]) == 0
    assert json.loads(capsys.readouterr().out) == TrainingConfig().model_dump()


def test_train_flags_come_from_the_schema():
    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for name in field_specs():
        assert "--" + name.replace("_", "-") in help_text
    assert "--no-freeze-backbone" in help_text and "[16–128]" in help_text


def test_validate_reports_each_field(tmp_path, capsys):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"n_epochs": 3}))
    bad.write_text(json.dumps({"n_epochs": 500, "learning_rate": 1, "colour": "red"}))
    assert main(["validate", str(good)]) == 0
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    for field in ("n_epochs", "learning_rate", "colour"):
        assert f"  {field}:" in err


def test_invalid_flags_exit_2_without_training(tmp_path, capsys):
    assert main(["train", "--n-epochs", "0", "--save-dir", str(tmp_path / "x")]) == 2
    assert "n_epochs" in capsys.readouterr().err and not (tmp_path / "x").exists()


@pytest.mark.slow
def test_train_then_ctrl_c_keeps_history(tmp_path):
    """A real run in a subprocess; SIGINT after the first epoch stops it gracefully (exit 130)."""
    proc = subprocess.Popen(
        [
            *EEGTRAIN,
            "train",
            "--n-samples-per-class",
            "100",
            "--n-epochs",
            "20",
            "--no-freeze-backbone",
            "--batch-size",
            "64",
            "--save-dir",
            "out",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs = tmp_path / "out" / "runs"
    deadline = time.monotonic() + 240
    while not list(runs.glob(f"*/{artifacts.HISTORY_NAME}")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no epoch finished in time"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "stopping after the current batch" in err
    assert ": stopped after " in out and "best validation accuracy" in out
    assert "\nprecision: " in out  # what the run computed in, and why
    (run_dir,) = runs.iterdir()
    history = json.loads((run_dir / artifacts.HISTORY_NAME).read_text())
    assert 1 <= len(history["train_losses"]) < 20
    assert (run_dir / artifacts.SYNTHETIC_CHECKPOINT_NAME).exists()
    # only a completed run replaces the top-level files; the summary says where this one's are
    assert not (tmp_path / "out" / artifacts.SYNTHETIC_CHECKPOINT_NAME).exists()
    assert f"outputs in {run_dir}" in out and "left as they were" in out


@pytest.mark.slow
def test_search_runs_trials_and_prints_the_best_config(tmp_path):
    """``eegtrain search`` in a subprocess: every trial listed, the best config printed; a bad
    space is exit 2 naming the field, before any trial."""
    pytest.importorskip("optuna")
    (tmp_path / "space.json").write_text(
        json.dumps({"learning_rate": {"low": 0.0003, "high": 0.003, "log": True}})
    )
    (tmp_path / "base.json").write_text(
        json.dumps({"n_samples_per_class": 100, "n_epochs": 2, "device": "cpu", "save_dir": "out"})
    )
    args = ["search", "--space", "space.json", "--config", "base.json", "--n-trials", "2", "--pruner", "none"]
    done = subprocess.run([*EEGTRAIN, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "optuna-dashboard " in out and str(tmp_path / ".eegtrain" / "optuna-journal.log") in out
    assert "trial 0: complete" in out and "trial 1: complete" in out
    assert "search search-" in out and ": completed" in out
    best = json.loads(out[out.index("{", out.index("best: trial")) :])
    assert best["n_epochs"] == 2 and 0.0003 <= best["learning_rate"] <= 0.003
    assert len(list((tmp_path / "out" / "runs").iterdir())) == 2

    (tmp_path / "bad.json").write_text(json.dumps({"learning_rate": {"low": 0.5, "high": 0.9}}))
    bad = subprocess.run(
        [*EEGTRAIN, "search", "--space", "bad.json", "--n-trials", "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "space.learning_rate" in bad.stderr, bad.stderr
    assert len(list((tmp_path / "out" / "runs").iterdir())) == 2


@pytest.mark.slow
def test_train_shows_no_third_party_warnings(tmp_path):
    """braindecode's EEGNet DeprecationWarning and MNE's 'standard_1020' FutureWarning (raised
    where the fork server imports braindecode) reach neither the terminal nor the worker's log,
    even with every warning shown (``PYTHONWARNINGS=default``)."""
    import os

    proc = subprocess.run(
        [
            *EEGTRAIN,
            "train",
            "--model",
            "eegnet",
            "--n-samples-per-class",
            "100",
            "--n-epochs",
            "1",
            "--save-dir",
            "out",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "default"},
    )
    assert proc.returncode == 0, proc.stderr
    (log,) = (tmp_path / "out" / "runs").glob("*/worker.log")
    for text in (proc.stderr, log.read_text()):
        assert "DeprecationWarning" not in text and "FutureWarning" not in text, text
        assert "standard_1020" not in text and "final_layer_with_constraint" not in text, text
