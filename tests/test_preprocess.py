"""Preprocessing: from a recording to LaBraM-ready windows, and its record in the checkpoint."""

from __future__ import annotations

import mne
import numpy as np
import pytest
import torch
from configs import TINY
from pydantic import ValidationError

from eegtrain_jupyter.config.training import parse_config
from eegtrain_jupyter.data import synthetic
from eegtrain_jupyter.data.preprocess import (
    Preprocessing,
    apply_to_raw,
    check_windows,
    epochs_to_windows,
    raw_to_windows,
    suggest_channel_map,
)
from eegtrain_jupyter.engine import training as engine
from eegtrain_jupyter.errors import ConfigError

NAMES = ["Fp1", "Fp2", "EEG C3-REF", "C4", "P7", "P8", "O1", "O2", "ECG"]


def _raw(sfreq: float = 250.0, seconds: float = 12.0) -> mne.io.RawArray:
    rng = np.random.default_rng(0)
    info = mne.create_info(NAMES, sfreq, ["eeg"] * 8 + ["ecg"])
    return mne.io.RawArray(rng.normal(0, 1e-5, (9, int(sfreq * seconds))), info, verbose="error")


def _prep(**kw) -> Preprocessing:
    return Preprocessing(ch_names=list(synthetic.CH_NAMES), window_s=4.0, **kw)


def test_unknown_channel_names_suggest_a_channel_map():
    with pytest.raises(ConfigError) as info:
        apply_to_raw(_raw(), _prep())
    message = info.value.errors[0].message
    assert info.value.errors[0].field == "data.ch_names"
    assert "C3" in message and '"EEG C3-REF": "C3"' in message
    assert suggest_channel_map(NAMES) == {"EEG C3-REF": "C3"}


def test_raw_is_renamed_picked_ordered_resampled_and_scaled():
    raw = _raw()
    prep = _prep(channel_map={"EEG C3-REF": "C3"}, l_freq=0.5, h_freq=45.0)
    out = apply_to_raw(raw, prep)
    assert out.ch_names == list(synthetic.CH_NAMES)
    assert out.info["sfreq"] == 200.0
    assert raw.info["sfreq"] == 250.0 and raw.ch_names == NAMES  # the input is left alone
    X = raw_to_windows(raw, prep)
    assert X.shape == (3, 8, 800) and X.dtype == np.float32
    assert 1.0 < X.std() < 20.0  # volts (1e-5) became microvolts, band-passed
    assert raw_to_windows(raw, prep, step_s=1.0).shape == (9, 8, 800)
    check_windows(X, prep)


def test_epochs_get_the_same_preprocessing():
    raw = _raw()
    prep = _prep(channel_map={"EEG C3-REF": "C3"})
    epochs = mne.make_fixed_length_epochs(raw, 4.0, verbose="error")
    from_epochs = epochs_to_windows(epochs, prep)
    from_raw = raw_to_windows(raw, prep)
    assert from_epochs.shape == from_raw.shape == (3, 8, 800)
    short = mne.make_fixed_length_epochs(raw, 2.0, verbose="error")
    with pytest.raises(ConfigError, match="windows need 4 s"):
        epochs_to_windows(short, prep)


def test_check_windows_names_the_problem():
    prep = _prep()
    X = np.zeros((4, 8, 800), np.float32)
    with pytest.raises(ConfigError, match="7 channels"):
        check_windows(X[:, :7], prep)
    with pytest.raises(ConfigError, match="400 samples"):
        check_windows(X[..., :400], prep)
    X[2, 1, 5] = np.inf
    with pytest.raises(ConfigError, match=r"1 of 4 windows hold NaN or inf samples \(channels FP2\)"):
        check_windows(X, prep)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"window_s": 0.5}, "at least 1 s"),
        ({"window_s": 2.5}, "whole number"),
        ({"ch_names": ["C3", "XX"]}, "not LaBraM channel names: XX"),
        ({"l_freq": 40.0, "h_freq": 4.0}, "below h_freq"),
    ],
)
def test_bad_preprocessing_is_refused(kw, match):
    with pytest.raises(ValidationError, match=match):
        Preprocessing(**{"ch_names": ["C3"], "window_s": 4.0, **kw})


@pytest.mark.slow
def test_checkpoint_carries_the_preprocessing(tmp_path):
    data = synthetic.generate(100, seed=1)
    engine.train(parse_config(TINY), data, tmp_path)
    ckpt = torch.load(tmp_path / "best_synthetic_model.pth", weights_only=False)
    expected = Preprocessing(ch_names=list(synthetic.CH_NAMES), window_s=4.0)
    assert ckpt["preprocessing"] == expected.model_dump()
