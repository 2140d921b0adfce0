"""Classical baselines as models: config rules, the band-power features, fitting through the engine
(same split, scores, events and files as the neural models), reloading from skops bytes without
pickle, refusing untrusted files and ONNX export, and a run through the service."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import Pipeline

from eegtrain_jupyter import schemas
from eegtrain_jupyter.config.training import (
    CLASSICAL_MODELS,
    MODEL_ONLY_FIELDS,
    NEURAL_MODELS,
    parse_config,
    validate_config,
)
from eegtrain_jupyter.data.synthetic import generate
from eegtrain_jupyter.data.windows import Windows
from eegtrain_jupyter.engine import artifacts
from eegtrain_jupyter.engine.events import TrainingListener
from eegtrain_jupyter.engine.training import train
from eegtrain_jupyter.errors import ConfigError
from eegtrain_jupyter.models import classical
from eegtrain_jupyter.serving.export import export_model
from eegtrain_jupyter.serving.predict import TrainedModel


@pytest.fixture(scope="module")
def data():
    return generate(60, seed=3)


class Recorder(TrainingListener):
    def __init__(self):
        self.events = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            return lambda *args, **kw: self.events.append((name, args, kw))
        return super().__getattribute__(name)


# -- config --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CLASSICAL_MODELS)
def test_a_baseline_takes_inert_values_for_the_neural_fields(name):
    config = parse_config({"model": name})
    assert config.n_epochs == 1 and config.device == "cpu" and config.freeze_backbone is False
    # presets: their gradient-descent options do not apply, so they are left out
    for preset in ("quick", "fine-tune"):
        result = validate_config({"model": name}, preset=preset)
        assert result.valid, (preset, result.errors)
        assert result.config.n_epochs == 1
    assert parse_config({"model": name}, preset="quick").n_samples_per_class == 100
    # the default (or, for device, cpu) of a field that does not apply is accepted
    assert validate_config({"model": name, "learning_rate": 0.001, "device": "auto", "batch_size": 32}).valid


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("learning_rate", 0.01),
        ("n_epochs", 5),
        ("augmentation", ["sign_flip"]),
        ("device", "cuda"),
        ("devices", "cpu:2"),
        ("freeze_backbone", True),
        ("early_stopping_patience", 3),
    ],
)
def test_a_neural_option_with_a_baseline_is_refused_naming_the_field(field, value):
    result = validate_config({"model": "csp_lda", field: value})
    assert not result.valid
    assert [e.field for e in result.errors] == [field]
    assert "not csp_lda" in result.errors[0].message


def test_every_neural_only_field_applies_to_every_neural_model():
    for name, models in MODEL_ONLY_FIELDS.items():
        assert not set(models) & set(CLASSICAL_MODELS), name
        if name not in ("freeze_backbone", "pretrained_weights"):
            assert models == NEURAL_MODELS, name


# -- the pipelines -------------------------------------------------------------------------------
def test_band_power_finds_a_10_hz_rhythm_in_the_alpha_band():
    sfreq, n_times = 200.0, 800
    t = np.arange(n_times) / sfreq
    X = np.stack([np.stack([np.sin(2 * np.pi * 10 * t) * 10, np.sin(2 * np.pi * 20 * t) * 10])] * 3)
    bp = classical.BandPower(sfreq).fit(X)
    feats = bp.transform(X)
    names = [b[0] for b in bp.bands_]
    assert names == ["delta", "theta", "alpha", "beta", "gamma"] and bp.nperseg_ == 200
    assert feats.shape == (3, 2 * 5)
    per_channel = feats.reshape(3, 2, 5)
    assert per_channel[0, 0].argmax() == names.index("alpha")
    assert per_channel[0, 1].argmax() == names.index("beta")
    # the power of a sine of amplitude 10 µV is 50 µV², nearly all of it inside its band
    assert 10 ** per_channel[0, 0, names.index("alpha")] == pytest.approx(50, rel=0.05)
    with pytest.raises(ValueError, match="fitted on 800"):
        bp.transform(X[..., :400])


def test_band_power_leaves_out_bands_above_nyquist():
    bp = classical.BandPower(50.0).fit(np.zeros((2, 1, 100)))
    assert [b[0] for b in bp.bands_] == ["delta", "theta", "alpha", "beta"]
    assert np.isfinite(bp.transform(np.zeros((2, 1, 100)))).all()  # a flat channel: a floor, not -inf


def test_balanced_class_weight_sets_uniform_lda_priors_and_balanced_lr():
    lda = classical.build("bandpower_lda", sfreq=200, n_chans=4, n_classes=3, class_weight="balanced")
    assert np.allclose(lda.named_steps["lda"].priors, 1 / 3)
    assert classical.build("csp_lda", sfreq=200, n_chans=4, n_classes=2).named_steps["lda"].priors is None
    lr = classical.build("tangent_space_lr", sfreq=200, n_chans=4, n_classes=2, class_weight="balanced")
    assert lr.named_steps["lr"].class_weight == "balanced"
    assert classical.build("csp_lda", sfreq=200, n_chans=2, n_classes=2).named_steps["csp"].n_components == 2


def test_a_class_absent_from_training_gets_probability_zero(data):
    pipeline = classical.fit(
        classical.build("bandpower_lda", sfreq=200, n_chans=8, n_classes=2), data.X, data.y
    )
    proba = classical.predict_proba(pipeline, data.X[:5], 3)
    assert proba.shape == (5, 3) and np.allclose(proba.sum(1), 1) and (proba[:, 2] == 0).all()


# -- fitted through the engine -------------------------------------------------------------------
@pytest.mark.parametrize("name", CLASSICAL_MODELS)
def test_each_baseline_fits_as_one_epoch_with_the_neural_outputs(name, data, tmp_path):
    recorder = Recorder()
    result = train(
        parse_config({"model": name, "n_samples_per_class": 100}), data, tmp_path, listeners=[recorder]
    )
    assert not result.stopped and result.epochs_completed == 1 and result.best_epoch == 1
    assert result.device == "cpu" and result.precision == "fp64"
    schemas.Metrics.model_validate(result.history)
    assert all(len(v) == 1 for v in result.history.values())
    report = schemas.TestReport.model_validate(result.test_report)
    assert report.epoch == 1 and report.n == sum(sum(row) for row in report.confusion_matrix)
    names = [e[0] for e in recorder.events]
    assert names == [
        "on_split",
        "on_phase",
        "on_setup",
        "on_phase",
        "on_batch",
        "on_batch",
        "on_model",
        "on_best",
        "on_epoch_end",
        "on_phase",
        "on_test",
        "on_end",
    ]
    phases = [e[1][0] for e in recorder.events if e[0] == "on_phase"]
    assert phases == ["building model", "training", "testing"]
    model_facts = next(e[2] for e in recorder.events if e[0] == "on_model")
    assert model_facts["name"] == name and model_facts["n_parameters"] > 0
    assert set(result.files) == {"checkpoint", "history", "curves"}

    # the checkpoint reloads without pickle and predicts what the engine scored on the test split
    ckpt = torch.load(result.files["checkpoint"], weights_only=True)
    assert "model_state_dict" not in ckpt and isinstance(ckpt["classifier_skops"], bytes)
    model = TrainedModel.from_checkpoint(result.files["checkpoint"])
    assert model.module is None and isinstance(model.estimator, Pipeline)
    test = next(e[1][0] for e in recorder.events if e[0] == "on_test")
    assert test == ckpt["test_report"]
    from eegtrain_jupyter.data.splits import split_for

    idx = split_for(data, parse_config({"model": name})).test
    pred = model.probabilities(data.X[idx]).argmax(1)
    cm = np.zeros((2, 2), dtype=int)
    np.add.at(cm, (data.y[idx], pred), 1)
    assert cm.tolist() == report.confusion_matrix
    assert model.predict(data.X[idx[:3]]).tolist() == [data.class_names[i] for i in pred[:3]]


def test_band_power_lda_beats_chance_on_synthetic_bands(data):
    result = train(parse_config({"model": "bandpower_lda"}), data)
    assert result.history["val_balanced_accs"][0] > 75 and result.test_report["balanced_accuracy"] > 70


def test_a_stop_before_the_fit_ends_the_run_without_a_checkpoint(data, tmp_path):
    result = train(parse_config({"model": "csp_lda"}), data, tmp_path, should_stop=lambda: True)
    assert result.stopped and result.epochs_completed == 0
    assert not (tmp_path / artifacts.SYNTHETIC_CHECKPOINT_NAME).exists()


def test_without_a_test_split_there_is_no_test_report(data):
    result = train(parse_config({"model": "tangent_space_lr", "test_split": 0.0}), data)
    assert result.test_report is None and result.epochs_completed == 1


def test_balanced_class_weight_weights_the_loss_as_torch_does():
    from eegtrain_jupyter.engine.classical import _loss

    y = np.array([0, 0, 0, 1])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    weight = np.array([4 / 6, 4 / 2])
    expected = torch.nn.functional.cross_entropy(
        torch.log(torch.tensor(proba)), torch.tensor(y), weight=torch.tensor(weight)
    )
    assert _loss(y, proba, weight) == pytest.approx(float(expected))
    assert _loss(y, proba, None) == pytest.approx(
        float(torch.nn.functional.cross_entropy(torch.log(torch.tensor(proba)), torch.tensor(y)))
    )


# -- loading and export --------------------------------------------------------------------------
class Sneaky(TransformerMixin, BaseEstimator):
    """A type no list trusts."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X).reshape(len(X), -1)


def test_a_checkpoint_with_an_untrusted_type_is_refused(data, tmp_path):
    pipeline = Pipeline([("sneaky", Sneaky()), ("lda", LinearDiscriminantAnalysis())]).fit(
        data.X[:40], data.y[:40]
    )
    path = tmp_path / artifacts.SYNTHETIC_CHECKPOINT_NAME
    torch.save(
        {
            "model": "bandpower_lda",
            "classifier_skops": skops.io.dumps(pipeline),
            "ch_names": list(data.ch_names),
            "sfreq": data.sfreq,
            "n_times": data.n_times,
            "class_names": list(data.class_names),
        },
        path,
    )
    with pytest.raises(ConfigError) as err:
        TrainedModel.from_checkpoint(path)
    assert err.value.errors[0].field == "model"
    assert "test_classical.Sneaky" in err.value.errors[0].message and str(tmp_path) not in str(err.value)


@pytest.mark.parametrize("fmt", ["onnx", "torch_export"])
def test_export_of_a_baseline_is_a_400_naming_the_neural_models(fmt, data, tmp_path):
    result = train(parse_config({"model": "bandpower_lda"}), data, tmp_path)
    model = TrainedModel.from_checkpoint(result.files["checkpoint"])
    with pytest.raises(ConfigError) as err:
        export_model(model, fmt, tmp_path)
    assert err.value.status == 400 and err.value.errors[0].field == "format"
    assert "for the neural models" in err.value.errors[0].message
    assert not list(tmp_path.glob("model.*"))


def test_a_baseline_fits_on_windows_of_three_classes_with_subjects(tmp_path):
    rng = np.random.default_rng(0)
    n = 90
    y = np.repeat(np.arange(3), n // 3)
    X = rng.standard_normal((n, 4, 200)).astype(np.float32) * (1 + y[:, None, None])  # power per class
    windows = Windows(
        X, y, ("C3", "C4", "O1", "O2"), 100.0, ("a", "b", "c"), np.array([f"s{i % 9}" for i in range(n)])
    )
    for name in CLASSICAL_MODELS:
        result = train(parse_config({"model": name, "test_split": 0.3}), windows)
        assert result.test_report["split"].startswith("by subject"), name
        assert len(result.test_report["per_class"]) == 3 and result.test_report["balanced_accuracy"] > 50, (
            name
        )


# -- through the service -------------------------------------------------------------------------
@pytest.mark.slow  # a worker process: ~10 s
def test_a_baseline_run_through_the_service_completes_compares_and_predicts(tmp_path):
    from configs import TINY
    from support import train_tiny

    from eegtrain_jupyter import load_model
    from eegtrain_jupyter.cli.main import main
    from eegtrain_jupyter.client.local import LocalClient
    from eegtrain_jupyter.service.manager import TrainingManager

    status = train_tiny(tmp_path, model="tangent_space_lr", device="auto")
    assert status.model == "tangent_space_lr" and status.total_epochs == 1 and status.current_epoch == 1
    assert status.test_report is not None and status.n_parameters > 0
    client = LocalClient(TrainingManager(tmp_path, thread_settings=None))
    client.start({**TINY, "model": "eegnet", "save_dir": "models"})
    assert client.wait(600)
    runs = client.runs()
    assert {r["config"]["model"] for r in runs} == {"tangent_space_lr", "eegnet"}
    comparison = client.compare([r["run_id"] for r in runs])
    assert len(comparison["runs"]) == 2
    model = load_model(status.run_id, tmp_path)
    X = generate(5, seed=11).X
    assert model.predict_proba(X).shape == (10, 2)
    card = (Path(status.run_dir) / "model_card.md").read_text()
    assert "scikit-learn pipeline" in card
    assert main(["export", status.run_id, "--format", "onnx", "--root", str(tmp_path)]) == 2
