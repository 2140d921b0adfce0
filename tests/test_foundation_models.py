"""LaBraM, CBraMod, EEGPT and BIOT as ``model`` choices: real braindecode networks at their native
rates, trained one epoch on recordings written with MNE's writers (frozen and fine-tuned), their
pretrained weights loaded from snapshots braindecode's own ``save_pretrained`` wrote, and their
checkpoints used for prediction."""

from __future__ import annotations

from pathlib import Path

import mne
import numpy as np
import pytest
import torch
from recordings import LABELS, make_raw, write
from support import require

from eegtrain_jupyter.config import parse_config, validate_config
from eegtrain_jupyter.config.data import EpochsData
from eegtrain_jupyter.config.names import native_signal
from eegtrain_jupyter.data.epochs import load_epochs_object
from eegtrain_jupyter.data.paths import PathPolicy
from eegtrain_jupyter.data.windows import load_windows, scan
from eegtrain_jupyter.engine.artifacts import CHECKPOINT_NAME
from eegtrain_jupyter.engine.training import train
from eegtrain_jupyter.errors import ConfigError
from eegtrain_jupyter.models.foundation import (
    FOUNDATION_MODELS,
    FoundationClassifier,
    build_foundation,
)
from eegtrain_jupyter.models.labram import build_classifier as build_labram
from eegtrain_jupyter.models.pretrained import PretrainedWeightsError
from eegtrain_jupyter.models.registry import check_pretrained
from eegtrain_jupyter.serving.export import export_model
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


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    """Two subjects' annotated recordings written with MNE's writers: EDF at 200 Hz, FIF at 250 Hz."""
    root = tmp_path_factory.mktemp("recordings")
    write(make_raw(1, n_blocks=4, block_s=6.0), root / "rec", "sub-01_task-rest", "edf")
    write(make_raw(2, n_blocks=4, block_s=6.0, sfreq=250.0), root / "rec", "sub-02_task-rest", "fif")
    return root


@pytest.mark.slow  # eight short runs of the four largest models, three ONNX exports (~5 min, 2 busy cores)
@pytest.mark.parametrize("name", ["labram", *FOUNDATION])
def test_trains_frozen_and_fine_tuned_on_file_recordings_and_predicts_them_from_the_checkpoint(
    name, recordings, tmp_path
):
    native = native_signal(name)
    data_cfg = {"source": "files", "paths": ["rec/*"], "labels": LABELS, "window_s": 2.0, "sliding": True}
    states = {}
    for freeze in (True, False):
        cfg = parse_config(
            {
                "model": name,
                "data": data_cfg,
                "n_epochs": 1,
                "batch_size": 16,
                "device": "cpu",
                "freeze_backbone": freeze,
            }
        )
        # resampled to the model's rate, cut into whole patches: 2 files x 4 blocks x 3 windows
        data, summary = scan(cfg, PathPolicy(recordings))
        assert (data.sfreq, data.n_times, len(data.X)) == (native.sfreq, 2 * native.sfreq, 24)
        assert summary is not None and len(summary.files) == 2
        out = tmp_path / f"frozen-{freeze}"
        result = train(cfg, data, out)
        assert result.epochs_completed == 1 and result.best_val_acc is not None
        ckpt = torch.load(out / CHECKPOINT_NAME, weights_only=True)
        assert ckpt["model"] == name
        # the preprocessing record holds the model's rate and patch, so prediction repeats them
        assert (ckpt["preprocessing"]["sfreq"], ckpt["preprocessing"]["patch"]) == (
            native.sfreq,
            native.patch,
        )
        states[freeze] = ckpt["model_state_dict"]
        model = TrainedModel.from_checkpoint(out / CHECKPOINT_NAME)
        assert (model.sfreq, model.n_times, model.preprocessing.patch) == (
            native.sfreq,
            data.n_times,
            native.patch,
        )
        # a recording at another rate is resampled as training did: one window per 2 s
        raw = mne.io.read_raw(recordings / "rec" / "sub-02_task-rest_raw.fif", verbose="error")
        proba = model.predict_proba(raw)
        assert proba.shape == (12, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
        assert set(model.predict(raw)) <= set(LABELS.values())
        if name != "labram":  # the rebuilt module is the trained network: its logits from µV
            again = FoundationClassifier.from_checkpoint(ckpt).eval()
            with torch.inference_mode():
                expected = torch.softmax(again(torch.from_numpy(np.asarray(data.X[:5]))), 1).numpy()
            assert np.allclose(model.predict_proba(np.asarray(data.X[:5])), expected, atol=1e-5)
        with pytest.raises(ConfigError, match="samples"):  # a window at another rate is refused
            model.predict(np.zeros((1, len(data.ch_names), data.n_times // 2), np.float32))
        if freeze and name != "labram":  # ONNX: LaBraM's export is tested with the server's runs
            require("onnxruntime")
            exported = export_model(model, "onnx")
            assert exported.parity.passed and exported.parity.same_labels, exported.parity
            assert Path(exported.path).name == "model.onnx" and exported.size_bytes > 0
    # frozen: the backbone is the seeded initial one; fine-tuned: the backbone moved
    initial = build_any_for(name, data)[0].net.state_dict()
    backbone = [k for k in initial if not k.startswith("final_layer.") and initial[k].is_floating_point()]
    assert backbone and all(torch.equal(states[True][k], initial[k]) for k in backbone)
    assert any(not torch.equal(states[False][k], initial[k]) for k in backbone)


def build_any_for(name: str, data):
    """The model a run of ``name`` builds for ``data`` (the config's default seed, 42)."""
    if name == "labram":
        return build_labram(data.ch_names, data.n_times, data.sfreq, n_outputs=2, seed=42)
    return build_foundation(name, data.ch_names, data.n_times, data.sfreq, n_outputs=2, seed=42)


def build_any(name: str, seed: int = 0, **kwargs):
    """Any of the four foundation models on :data:`CHANNELS`, one second at its native rate."""
    if name == "labram":
        return build_labram(CHANNELS, 200, 200.0, n_outputs=2, seed=seed, **kwargs)
    return build(name, seed=seed, **kwargs)


@pytest.mark.parametrize("name", ["labram", *FOUNDATION])
def test_a_save_pretrained_snapshot_loads_every_backbone_key_and_gives_equal_backbone_outputs(name, tmp_path):
    """The network's own ``save_pretrained`` layout (``config.json``, ``model.safetensors``, ...)
    from a seeded model, loaded into a model of another seed: every backbone tensor matched, none cut,
    missing or unused, and the backbone computes the donor's features on fixed windows."""
    donor, _ = build_any(name, seed=9)
    donor.net.save_pretrained(tmp_path / "snap")
    assert {"config.json", "model.safetensors"} <= {p.name for p in (tmp_path / "snap").iterdir()}
    model, info = build_any(name, seed=0, pretrained_weights=str(tmp_path / "snap"))
    load = info.load
    assert load is not None and info.origin == "pretrained" and load["format"] == "safetensors"
    own = donor.net.state_dict()
    head = [k for k in own if k.startswith(donor.head_name + ".")]
    derived = FOUNDATION_MODELS[name].derived if name in FOUNDATION_MODELS else ()  # e.g. EEGPT's chans_id
    assert load["backbone_keys"] == len(own) - len(head) - len(derived)
    assert load["matched"] == load["backbone_keys"] and load["head_keys"] == len(head) > 0
    assert (load["missing"], load["unexpected"], load["adapted"], load["shape_mismatched"]) == (
        [],
        [],
        [],
        [],
    )
    x = x_for(name)
    assert torch.equal(features(model, x), features(donor, x))
    assert not torch.equal(features(build_any(name, seed=0)[0], x), features(donor, x))
    # the check before a run, against the chosen model's reference backbone
    assert check_pretrained(str(tmp_path / "snap"), model=name) == str(tmp_path / "snap")
    # the snapshot of an end-to-end model matches none of the backbone's keys: refused
    from braindecode.models import EEGNet

    EEGNet(n_chans=len(CHANNELS), n_times=x.shape[-1], n_outputs=2, sfreq=200.0).save_pretrained(
        tmp_path / "eegnet"
    )
    with pytest.raises(PretrainedWeightsError, match=r"matches only 0 of the \d+ tensors"):
        build_any(name, pretrained_weights=str(tmp_path / "eegnet"))


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
