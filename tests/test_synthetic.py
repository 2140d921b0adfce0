"""Synthetic EEG: shape, determinism, realism (band power differs by class, but overlaps), MNE export."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from eegtrain_jupyter.data import synthetic
from eegtrain_jupyter.data.synthetic import CH_NAMES, generate


@pytest.fixture(scope="module")
def data():
    return generate(200, seed=3)


def band_power(X, lo, hi):
    freqs, psd = welch(X, fs=synthetic.SFREQ, nperseg=200, axis=-1)
    return np.log(psd[..., (freqs >= lo) & (freqs < hi)].mean(-1))  # (n, ch)


def test_shape_and_facts(data):
    assert data.X.shape == (400, 8, 800) and data.X.dtype == np.float32
    assert data.y.tolist() == [0] * 200 + [1] * 200
    assert data.ch_names == CH_NAMES and data.sfreq == 200.0 and data.class_names == ("relaxed", "anxious")
    assert np.isfinite(data.X).all()
    assert 3 < data.X.std() < 100  # tens of microvolts, like scalp EEG


def test_channel_names_are_labram_channels():
    from braindecode.models.labram import LABRAM_CHANNEL_ORDER

    assert {c.upper() for c in CH_NAMES} <= {c.upper() for c in LABRAM_CHANNEL_ORDER}


def test_deterministic_and_seeded_without_global_rng():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    a, b, c = generate(50, seed=7), generate(50, seed=7), generate(50, seed=8)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.subjects, b.subjects)
    assert not np.allclose(a.X, c.X)
    assert np.array_equal(np.random.get_state()[1], before)


def test_classes_differ_in_the_expected_bands(data):
    relaxed, anxious = data.y == 0, data.y == 1
    posterior = [CH_NAMES.index(c) for c in ("O1", "O2")]
    frontal = [CH_NAMES.index(c) for c in ("FP1", "FP2")]
    alpha = band_power(data.X, 8, 13)[:, posterior].mean(1)
    beta = band_power(data.X, 13, 30)[:, frontal].mean(1)
    assert alpha[relaxed].mean() > alpha[anxious].mean() + 0.3
    assert beta[anxious].mean() > beta[relaxed].mean() + 0.2
    # relaxed alpha peaks in 8-12 Hz over the back of the head
    freqs, psd = welch(data.X[relaxed][:, posterior], fs=200, nperseg=400, axis=-1)
    peak = freqs[(freqs > 4)][psd.mean((0, 1))[freqs > 4].argmax()]
    assert 8 <= peak <= 12


def test_separable_but_not_trivial(data):
    """Band powers predict the class well above chance, yet not perfectly (subjects overlap)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    features = np.concatenate(
        [band_power(data.X, lo, hi) for lo, hi in ((8, 13), (13, 30), (30, 45))], axis=1
    )
    acc = cross_val_score(LogisticRegression(max_iter=2000), features, data.y, cv=5).mean()
    assert 0.7 < acc < 0.97, acc


def test_to_mne(data):
    epochs = data.to_mne()
    assert epochs.ch_names == list(CH_NAMES)
    assert epochs.info["sfreq"] == 200.0
    assert epochs.event_id == {"relaxed": 0, "anxious": 1}
    assert np.allclose(epochs.get_data()[:2], data.X[:2] * 1e-6, rtol=1e-5)
    assert len(epochs["anxious"]) == 200


def test_rejects_empty():
    with pytest.raises(ValueError):
        generate(0)
