"""CBraMod, EEGPT and BIOT as ``model`` choices: real braindecode networks at their native rates,
trained one epoch on synthetic windows (frozen and fine-tuned), their pretrained weights loaded from
snapshots braindecode's own ``save_pretrained`` wrote, and their checkpoints used for prediction."""

from __future__ import annotations

import mne
import numpy as np
import pytest
import torch

from eegtrain_jupyter.config import parse_config, validate_config
from eegtrain_jupyter.config.data import EpochsData
from eegtrain_jupyter.config.names import native_signal
from eegtrain_jupyter.data.epochs import load_epochs_object
from eegtrain_jupyter.data.synthetic import generate
from eegtrain_jupyter.data.windows import load_windows
from eegtrain_jupyter.engine.artifacts import SYNTHETIC_CHECKPOINT_NAME
from eegtrain_jupyter.engine.training import train
from eegtrain_jupyter.errors import ConfigError
from eegtrain_jupyter.models.foundation import FoundationClassifier, build_foundation
from eegtrain_jupyter.models.labram import build_classifier as build_labram
from eegtrain_jupyter.models.pretrained import PretrainedWeightsError
from eegtrain_jupyter.models.registry import check_pretrained
from eegtrain_jupyter.serving.predict import TrainedModel

FOUNDATION = ("cbramod", "eegpt", "biot")
CHANNELS = ["FP1", "C3", "C4", "O2"]
EIGHTEEN = [
    "FP1",
    "FP2",
    "F7",
    "F3",
    "FZ",
    "F4",
    "F8",
    "T7",
    "C3",
    "CZ",
    "C4",
    "T8",
    "P7",
    "P3",
    "PZ",
    "P4",
    "P8",
    "O1",
]


def windows(name: str, n_per_class: int = 12):
    """Synthetic 2 s windows at the model's native rate."""
    native = native_signal(name)
    return generate(
        n_per_class, seed=0, n_times=round(2 * native.sfreq), sfreq=native.sfreq, patch=native.patch
    )


def build(name: str, seed: int = 0, ch_names=CHANNELS, **kwargs):
    native = native_signal(name)
    return build_foundation(
        name, ch_names, round(native.sfreq), native.sfreq, n_outputs=2, seed=seed, **kwargs
    )


def features(model, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.inference_mode():
        return model.features(x)


def x_for(name: str, n_chans: int = len(CHANNELS)) -> torch.Tensor:
    native = native_signal(name)
    return torch.from_numpy(
        np.random.default_rng(1).normal(0, 20, (3, n_chans, round(native.sfreq))).astype("f4")
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", FOUNDATION)
def test_trains_frozen_and_fine_tuned_at_its_native_rate_and_predicts_from_the_checkpoint(name, tmp_path):
    data = windows(name)
    native = native_signal(name)
    assert (data.sfreq, data.n_times) == (native.sfreq, 2 * native.sfreq)
    states = {}
    for freeze in (True, False):
        cfg = parse_config(
            {"model": name, "n_epochs": 1, "batch_size": 16, "device": "cpu", "freeze_backbone": freeze}
        )
        out = tmp_path / f"frozen-{freeze}"
        result = train(cfg, data, out)
        assert result.epochs_completed == 1 and result.best_val_acc is not None
        ckpt = torch.load(out / SYNTHETIC_CHECKPOINT_NAME, weights_only=True)
        assert ckpt["model"] == name and ckpt["model_class"].endswith(
            FoundationClassifier(name, data.ch_names, data.n_times, data.sfreq, 2).spec.class_name
        )
        # the preprocessing record holds the model's rate and patch, so prediction repeats them
        assert (ckpt["preprocessing"]["sfreq"], ckpt["preprocessing"]["patch"]) == (
            native.sfreq,
            native.patch,
        )
        states[freeze] = ckpt["model_state_dict"]
        model = TrainedModel.from_checkpoint(out / SYNTHETIC_CHECKPOINT_NAME)
        assert (model.sfreq, model.n_times, model.preprocessing.patch) == (
            native.sfreq,
            data.n_times,
            native.patch,
        )
        proba = model.predict_proba(data.X[:5])
        assert proba.shape == (5, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
        # the rebuilt module is the trained network: the checkpoint's own weights, logits from µV
        again = FoundationClassifier.from_checkpoint(ckpt).eval()
        with torch.inference_mode():
            expected = torch.softmax(again(torch.from_numpy(data.X[:5])), 1).numpy()
        assert np.allclose(proba, expected, atol=1e-5)
        with pytest.raises(ConfigError, match="samples"):  # a window at another rate is refused
            model.predict(np.zeros((1, len(data.ch_names), data.n_times // 2), np.float32))
    # frozen: the backbone is the seeded initial one; fine-tuned: the backbone moved
    initial = build_foundation(name, data.ch_names, data.n_times, data.sfreq, n_outputs=2, seed=42)[
        0
    ].net.state_dict()
    backbone = [k for k in initial if not k.startswith("final_layer.") and initial[k].is_floating_point()]
    assert all(torch.equal(states[True][k], initial[k]) for k in backbone)
    assert any(not torch.equal(states[False][k], initial[k]) for k in backbone)


@pytest.mark.parametrize("name", ["cbramod", "eegpt"])
def test_a_save_pretrained_snapshot_round_trip_gives_equal_backbone_outputs(name, tmp_path):
    donor, _ = build(name, seed=9)
    donor.net.save_pretrained(tmp_path / "snap")
    model, info = build(name, seed=0, pretrained_weights=str(tmp_path / "snap"))
    load = info.load
    assert load is not None and info.origin == "pretrained"
    assert (
        load["matched"] == load["backbone_keys"] and load["missing"] == [] and load["shape_mismatched"] == []
    )
    x = x_for(name)
    assert torch.equal(features(model, x), features(donor, x))
    assert not torch.equal(features(build(name, seed=0)[0], x), features(donor, x))
    # the check before a run, against the chosen model's reference backbone
    assert check_pretrained(str(tmp_path / "snap"), model=name) == str(tmp_path / "snap")


def test_biot_weights_for_more_channels_load_their_leading_channel_tokens(tmp_path):
    """BIOT's pretrained weights hold 18 channel tokens; a 4-channel model reads the first 4."""
    donor, _ = build("biot", seed=9, ch_names=EIGHTEEN)
    donor.net.save_pretrained(tmp_path / "snap")
    model, info = build("biot", seed=0, pretrained_weights=str(tmp_path / "snap"))
    assert info.load is not None and info.load["adapted"] == ["encoder.channel_tokens.weight"]
    assert info.load["matched"] == info.load["backbone_keys"]
    tokens = donor.net.encoder.channel_tokens.weight.detach()
    assert torch.equal(model.net.encoder.channel_tokens.weight.detach(), tokens[:4])
    # fed the donor's first 4 channels, the two encoders agree
    x = x_for("biot")
    donor4 = FoundationClassifier("biot", CHANNELS, 200, 200.0, 2)
    donor4.net.load_state_dict({**donor.net.state_dict(), "encoder.channel_tokens.weight": tokens[:4]})
    assert torch.allclose(features(model, x), features(donor4, x), atol=1e-5)
    # more channels than the file has tokens: refused, the tensor named
    model.net.save_pretrained(tmp_path / "four")
    with pytest.raises(
        PretrainedWeightsError, match=r"channel_tokens.weight: file \(4, 256\) vs model \(18, 256\)"
    ):
        build("biot", ch_names=EIGHTEEN, pretrained_weights=str(tmp_path / "four"))


def test_the_weights_of_another_model_are_refused_before_a_run(tmp_path):
    labram, _ = build_labram(CHANNELS, 200, 200.0, seed=0)
    labram.labram.save_pretrained(tmp_path / "labram")
    with pytest.raises(PretrainedWeightsError, match="CBraMod's backbone") as err:
        check_pretrained(str(tmp_path / "labram"), model="cbramod")
    assert err.value.status == 400 and str(tmp_path) not in str(err.value)


def test_eegpt_places_channels_by_name_and_refuses_those_outside_its_vocabulary():
    model, _ = build("eegpt", ch_names=["O2", "FP1", "CZ"])
    from braindecode.models.eegpt import CHANNEL_DICT

    assert model.net.chans_id.flatten().tolist() == [CHANNEL_DICT[c] for c in ("O2", "FP1", "CZ")]
    with pytest.raises(ConfigError, match="cannot place channels T3, A1") as err:
        build("eegpt", ch_names=["C3", "T3", "A1"])
    assert err.value.errors[0].field == "data.ch_names"
    # the other models read any channel set LaBraM's names cover
    build("cbramod", ch_names=["C3", "T3", "A1"])


def test_recording_channels_are_picked_from_the_models_vocabulary_and_resampled():
    info = mne.create_info(["T3", "C3", "C4", "A1"], 500.0, "eeg")
    rng = np.random.default_rng(0)
    epochs = mne.EpochsArray(
        rng.normal(0, 1e-5, (6, 4, 1000)),
        info,
        np.column_stack([np.arange(6) * 1000, np.zeros(6, int), [1, 2] * 3]),
        event_id={"a": 1, "b": 2},
        verbose="error",
    )
    cfg = EpochsData(source="epochs", path="x", window_s=2.0)
    w, _ = load_epochs_object(cfg, epochs, "x", model="eegpt")
    assert list(w.ch_names) == ["C3", "C4"] and (w.sfreq, w.n_times) == (256.0, 512)
    assert list(load_epochs_object(cfg, epochs, "x", model="labram")[0].ch_names) == ["T3", "C3", "C4", "A1"]
    named = EpochsData(source="epochs", path="x", window_s=2.0, ch_names=["C3", "T3"])
    with pytest.raises(ConfigError, match="model eegpt cannot place channels T3") as err:
        load_epochs_object(named, epochs, "x", model="eegpt")
    assert err.value.errors[0].field == "data.ch_names"


def test_windows_at_another_rate_or_length_are_refused():
    with pytest.raises(ConfigError, match="reads 256 Hz windows, not 200 Hz"):
        FoundationClassifier("eegpt", CHANNELS, 512, 200.0, 2)
    with pytest.raises(ConfigError, match="whole 200-sample patches"):
        FoundationClassifier("cbramod", CHANNELS, 300, 200.0, 2)
    with pytest.raises(ConfigError, match="at most 1024 tokens"):
        FoundationClassifier("biot", EIGHTEEN, 200 * 30, 200.0, 2)  # 18 channels x 59 frames


def test_synthetic_windows_come_at_the_models_rate():
    w = load_windows(parse_config({"model": "eegpt", "n_samples_per_class": 100}))
    assert (w.sfreq, w.n_times, w.prep().patch) == (256.0, 1024, 64)
    assert load_windows(parse_config({"model": "cbramod", "n_samples_per_class": 100})).n_times == 800


def test_config_options_and_model_aware_presets():
    for name in FOUNDATION:
        cfg = parse_config({"model": name, "pretrained_weights": "w.safetensors"})
        assert cfg.freeze_backbone is True  # a backbone model starts frozen, as LaBraM
        tuned = parse_config({"model": name}, preset="fine-tune")
        assert tuned.freeze_backbone is False and tuned.lr_schedule == "warmup_cosine"
    assert parse_config({"model": "cbramod"}, preset="fine-tune").learning_rate == 0.0001
    assert parse_config(preset="fine-tune").learning_rate == 0.0003  # LaBraM's preset as it was
    assert parse_config({"model": "eegpt", "learning_rate": 0.002}, preset="fine-tune").learning_rate == 0.002
    refused = validate_config({"model": "eegnet", "pretrained_weights": "w.safetensors"})
    assert [e.field for e in refused.errors] == ["pretrained_weights"]
