"""Using a trained model from Python and the CLI (issue 12): load_model, predict on numpy, mne.Epochs
and mne.io.Raw, bad input, model card, run lookup/delete, export with ONNX Runtime parity.

One real tiny run (TINY: real LaBraM, 1 epoch) is trained once for the module.
"""

from __future__ import annotations

import csv
import json

import mne
import numpy as np
import pytest
import torch
from support import require, train_tiny, wait_for

from eegtrain_jupyter import load_model
from eegtrain_jupyter.cli.main import main
from eegtrain_jupyter.data.synthetic import generate
from eegtrain_jupyter.errors import ConfigError, Conflict, NotFound
from eegtrain_jupyter.models.labram import load_checkpoint
from eegtrain_jupyter.service.manager import TrainingManager

pytestmark = pytest.mark.slow  # trains a real (tiny) model once: ~30 s on 2 busy cores


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("predict-root")


@pytest.fixture(scope="module")
def run(root):
    """The final status of one completed TINY run under ``root/models``."""
    return train_tiny(root)


@pytest.fixture(scope="module")
def model(run, root):
    return load_model(run.run_id, root)


@pytest.fixture(scope="module")
def fresh():
    """Windows the run never saw (another seed)."""
    return generate(10, seed=2024)


def _raw(windows: np.ndarray, ch_names, sfreq=200.0) -> mne.io.RawArray:
    """Windows (n, chans, times) in µV laid end to end as one continuous recording in volts."""
    data = windows.transpose(1, 0, 2).reshape(windows.shape[1], -1).astype(np.float64) * 1e-6
    return mne.io.RawArray(data, mne.create_info(list(ch_names), sfreq, "eeg"), verbose="error")


def test_load_model_by_run_id_folder_and_file(run, root, model):
    checkpoint = root / "models" / "runs" / run.run_id / "best_synthetic_model.pth"
    assert model.path == checkpoint
    assert load_model(root / "models", root).path == root / "models" / "best_synthetic_model.pth"
    assert load_model(str(checkpoint)).path == checkpoint
    assert model.classes_.tolist() == ["relaxed", "anxious"]
    assert model.ch_names == ["FP1", "FP2", "C3", "C4", "P7", "P8", "O1", "O2"] and model.n_times == 800
    with pytest.raises(NotFound, match="no run 'nope'"):
        load_model("nope", root)


def test_predict_proba_matches_the_checkpoints_torch_model(model, fresh):
    proba = model.predict_proba(fresh.X)
    assert proba.shape == (len(fresh), 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    module, _ = load_checkpoint(model.path)
    with torch.inference_mode():
        expected = torch.softmax(module(torch.from_numpy(fresh.X)), 1).numpy()
    assert np.abs(proba - expected).max() < 1e-5
    labels = model.predict(fresh.X)
    assert labels.tolist() == model.classes_[expected.argmax(1)].tolist()
    # sklearn drops in: accuracy_score takes the labels as they are
    from sklearn.metrics import accuracy_score

    acc = accuracy_score(model.classes_[fresh.y], labels)
    assert 0.0 <= acc <= 1.0


def test_channels_by_name_in_any_order(model, fresh):
    names = list(fresh.ch_names)[::-1]
    reordered = model.predict_proba(fresh.X[:, ::-1], ch_names=[n.lower() for n in names])
    assert np.allclose(reordered, model.predict_proba(fresh.X), atol=1e-6)


@pytest.mark.parametrize(
    ("bad", "kwargs", "field", "message"),
    [
        (lambda X: X[:, :, :400], {}, "windows", "windows of 400 samples; the model takes 800"),
        (lambda X: X[:, :7], {}, "windows", "7 channels; the model takes 8"),
        (
            lambda X: X[:, :7],
            {"ch_names": ["FP1", "FP2", "C3", "C4", "P7", "P8", "O1"]},
            "ch_names",
            "missing channels O2",
        ),
        (lambda X: X[0], {}, "windows", "must be 3-D"),
        (
            lambda X: np.where(np.arange(X.shape[0])[:, None, None] == 3, np.nan, X),
            {},
            "windows",
            "NaN or infinite values in 1 window(s): 3",
        ),
    ],
)
def test_mismatched_input_is_refused_by_name(model, fresh, bad, kwargs, field, message):
    with pytest.raises(ConfigError) as info:
        model.predict(bad(fresh.X), **kwargs)
    assert info.value.errors[0].field == field
    assert message in str(info.value)


def test_epochs_and_raw_are_windowed_as_in_training(model, fresh, tmp_path):
    from_numpy = model.predict_proba(fresh.X[:3])
    assert np.allclose(model.predict_proba(generate(10, seed=2024).to_mne()[:3]), from_numpy, atol=1e-5)
    raw = _raw(fresh.X[:3], ["Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2"])  # case differs
    path = tmp_path / "rec_raw.fif"
    raw.save(path, verbose="error")
    from_file = model.predict_proba(mne.io.read_raw(path, verbose="error"))
    assert from_file.shape == (3, 2) and np.abs(from_file - from_numpy).max() < 1e-4
    # half-window hop: 5 windows over 3 windows' length
    assert model.predict_proba(raw, step_s=2.0).shape == (5, 2)
    # a recording at another rate is resampled to the model's
    resampled = _raw(fresh.X[:3], fresh.ch_names).resample(250.0, verbose="error")
    assert model.predict_proba(resampled).shape == (3, 2)


def test_raw_missing_a_channel_or_too_short(model, fresh):
    raw = _raw(fresh.X[:2], fresh.ch_names).drop_channels(["O2"])
    with pytest.raises(ConfigError, match="O2 not found in the recording"):
        model.predict(raw)
    short = _raw(fresh.X[:1, :, :400], fresh.ch_names)
    with pytest.raises(ConfigError, match="shorter than one 4 s window"):
        model.predict(short)


def test_model_card_beside_every_checkpoint(run, root):
    run_dir, save_dir = root / "models" / "runs" / run.run_id, root / "models"
    card = json.loads((run_dir / "model_card.json").read_text())
    assert (save_dir / "model_card.json").read_bytes() == (run_dir / "model_card.json").read_bytes()
    assert card["run_id"] == run.run_id and card["model"]["classes"] == ["relaxed", "anxious"]
    assert card["backbone"]["origin"] == "random"
    assert card["data"]["n_windows"] == 200 and card["data"]["windows_per_class"] == {
        "relaxed": 100,
        "anxious": 100,
    }
    assert card["preprocessing"]["ch_names"][0] == "FP1" and card["preprocessing"]["sfreq"] == 200.0
    assert card["config"]["n_samples_per_class"] == 100
    # the default config holds out test subjects: the card reports that split, not validation's
    assert card["metrics"]["reported_split"] == "test"
    assert card["metrics"]["test"]["accuracy"] == run.test_report.accuracy
    assert card["metrics"]["test"]["subjects"] == run.test_report.subjects
    assert card["metrics"]["validation"]["val_acc"] == run.best_val_acc
    assert {"eegtrain-jupyter", "torch", "braindecode", "mne"} <= set(card["versions"])
    md = (run_dir / "model_card.md").read_text()
    assert "## Metrics (test split, best epoch 1)" in md and "randomly initialised" in md
    assert "# Model card: Labram classifier" in md and "| relaxed | " in md and "optimistic" not in md


def test_run_lookup_conflict_and_delete(run, root):
    manager = TrainingManager(root)
    detail = manager.run(run.run_id)
    assert detail.state == "completed" and "best_synthetic_model.pth" in detail.downloads
    assert detail.checkpoint_metrics["val_acc"] == run.best_val_acc and detail.model_card is not None
    assert detail.test_metrics["accuracy"] == run.test_report.accuracy
    with pytest.raises(NotFound):
        manager.run("20260101-000000-abcdef")
    # a run stopped before its first epoch has no checkpoint: predict/export are 409
    manager.start({"n_epochs": 1, "n_samples_per_class": 100, "device": "cpu", "save_dir": "models"})
    manager.stop()
    assert manager.wait(120)
    stopped = manager.status().run_id
    with pytest.raises(Conflict, match="no checkpoint yet"):
        manager.predict(stopped, {"windows": [[[0.0] * 800] * 8]})
    with pytest.raises(Conflict):
        load_model(stopped, root)
    deleted = manager.delete_run(stopped)
    assert deleted.deleted and not (root / "models" / "runs" / stopped).exists()
    assert stopped not in [r.run_id for r in manager.runs()] and run.run_id in [
        r.run_id for r in manager.runs()
    ]
    with pytest.raises(NotFound):
        manager.delete_run(stopped)


def test_cli_predict_runs_show(run, root, fresh, capsys):
    rec = root / "rec_raw.fif"
    _raw(fresh.X[:3], fresh.ch_names).save(rec, overwrite=True, verbose="error")
    np.save(root / "windows.npy", fresh.X[:2])
    out = root / "preds.csv"
    assert (
        main(["predict", run.run_id, "rec_raw.fif", "windows.npy", "--out", str(out), "--root", str(root)])
        == 0
    )
    rows = list(csv.DictReader(out.open()))
    assert [r["recording"] for r in rows] == ["rec_raw.fif"] * 3 + ["windows.npy"] * 2
    assert [r["start_s"] for r in rows[:3]] == ["0.0", "4.0", "8.0"] and rows[3]["start_s"] == ""
    expected = load_model(run.run_id, root).predict_proba(fresh.X[:2])
    assert np.allclose(
        [[float(r["p_relaxed"]), float(r["p_anxious"])] for r in rows[3:]], expected, atol=1e-5
    )
    assert {r["label"] for r in rows} <= {"relaxed", "anxious"}

    assert main(["runs", "--root", str(root)]) == 0
    assert run.run_id in capsys.readouterr().out
    assert main(["show", run.run_id, "--root", str(root)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["run_id"] == run.run_id and shown["model_card"]["run_id"] == run.run_id
    assert main(["show", "missing-run", "--root", str(root)]) == 2
    assert "no run 'missing-run'" in capsys.readouterr().err
    assert main(["predict", run.run_id, "nothing.edf", "--root", str(root)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_export_onnx_parity_with_onnx_runtime(run, root, fresh, capsys):
    ort = require("onnxruntime")
    out_dir = root / "exports"
    assert (
        main(["export", run.run_id, "--format", "onnx", "--out-dir", str(out_dir), "--root", str(root)]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["path"] == str(out_dir / "model.onnx") and result["parity"]["passed"] is True
    assert result["parity"]["n_windows"] == 64 and result["parity"]["max_abs_diff"] <= 1e-4
    assert json.loads((out_dir / "model.onnx.parity.json").read_text()) == result["parity"]
    # independently of the export's own check: ONNX Runtime on fresh windows, batch 1 and 20
    session = ort.InferenceSession(result["path"], providers=["CPUExecutionProvider"])
    expected = load_model(run.run_id, root).predict_proba(fresh.X)
    got = session.run(None, {"windows": fresh.X})[0]
    assert got.shape == (20, 2) and np.abs(got - expected).max() <= 1e-4
    assert np.abs(session.run(None, {"windows": fresh.X[:1]})[0] - expected[:1]).max() <= 1e-4


def test_checkpoint_without_preprocessing_record_is_described_by_its_shape(model, fresh, tmp_path):
    """Checkpoints written before ``preprocessing`` existed: channels, rate and window length suffice."""
    ckpt = torch.load(model.path, weights_only=True)
    del ckpt["preprocessing"]
    old = tmp_path / "old.pth"
    torch.save(ckpt, old)
    legacy = load_model(old)
    assert legacy.preprocessing.ch_names == model.ch_names and legacy.preprocessing.window_s == 4.0
    raw = _raw(fresh.X[:2], fresh.ch_names)
    assert np.abs(legacy.predict_proba(raw) - model.predict_proba(fresh.X[:2])).max() < 1e-4


def test_import_stays_light_and_load_model_is_top_level():
    import subprocess
    import sys

    code = "import sys, eegtrain_jupyter as e; assert 'torch' not in sys.modules; e.load_model; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_unreadable_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match=r"broken\.pth is not a readable checkpoint"):
        load_model(bad)
    with pytest.raises(NotFound, match=r"no best_model\.pth or best_synthetic_model\.pth"):
        load_model(tmp_path)


def test_model_area_widget_shows_metrics_predicts_and_exports(run, root, fresh):
    from eegtrain_jupyter.client import LocalClient
    from eegtrain_jupyter.widgets.model_area import ModelArea

    area = ModelArea(LocalClient(TrainingManager(root)), run.run_id)
    assert "validation" in area.metrics.value and f"{run.best_val_acc:.1f}%" in area.metrics.value
    np.save(root / "area.npy", fresh.X[:3])
    area.path.value = "area.npy"
    area.predict_button.click()
    assert "<td>3</td>" in area.prediction.value and area.error.value == ""
    area.path.value = "missing.edf"
    area.predict_button.click()
    assert "no such file" in area.path_error.value and area.error.value == ""
    area.export_buttons["torch_export"].click()  # in a daemon thread
    assert area.export_buttons["onnx"].disabled
    wait_for(lambda: not area.export_buttons["onnx"].disabled, timeout=600, what="the export")
    assert "passed" in area.export_result.value and "model.pt2" in area.export_result.value
