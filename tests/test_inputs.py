"""Python data into the trainer: mne.Epochs, numpy arrays and braindecode datasets, through
LocalClient.start(data=...)."""

from __future__ import annotations

import mne
import numpy as np
import pytest
from configs import TINY
from recordings import CHANNELS, make_raw

from eegtrain_jupyter.client import LocalClient
from eegtrain_jupyter.data.inputs import as_windows
from eegtrain_jupyter.errors import ConfigError
from eegtrain_jupyter.service.manager import TrainingManager


def _epochs(n_subjects: int = 4) -> mne.Epochs:
    parts = []
    for s in range(n_subjects):
        raw = make_raw(s + 1, sfreq=250.0, n_blocks=6)
        ev, ids = mne.events_from_annotations(raw, chunk_duration=4.0, verbose="error")
        ep = mne.Epochs(
            raw, ev, ids, tmin=0, tmax=4.0 - 1 / 250, baseline=None, preload=True, verbose="error"
        )
        import pandas as pd

        ep.metadata = pd.DataFrame({"subject": [f"s{s}"] * len(ep)})
        parts.append(ep)
    return mne.concatenate_epochs(parts, verbose="error")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # braindecode: drop_last_window
def test_epochs_numpy_and_braindecode_become_the_same_windows():
    epochs = _epochs(2)
    w = as_windows(epochs, window_s=4)
    assert w.X.shape == (len(epochs), 8, 800) and w.sfreq == 200.0
    assert set(w.class_names) == {"eyes_closed", "task"} and set(w.subjects) == {"s0", "s1"}
    X = epochs.get_data()
    y = epochs.events[:, 2] - 1
    names = [n for n, _ in sorted(epochs.event_id.items(), key=lambda kv: kv[1])]
    w2 = as_windows((X * 1e6, y), ch_names=CHANNELS, sfreq=250.0, class_names=names, scale=1.0)
    np.testing.assert_allclose(w2.X, w.X, atol=1e-3)
    from braindecode.datasets import create_from_X_y

    ds = create_from_X_y(
        X,
        y,
        drop_last_window=False,
        sfreq=250.0,
        ch_names=CHANNELS,
        window_size_samples=1000,
        window_stride_samples=1000,
    )
    w3 = as_windows(ds, class_names=names)
    np.testing.assert_allclose(w3.X, w.X, atol=1e-3)
    with pytest.raises(ConfigError, match="NaN or inf"):
        as_windows((np.full((4, 8, 800), np.nan), np.array([0, 1, 0, 1])), ch_names=CHANNELS, sfreq=200.0)


@pytest.mark.slow
def test_local_client_trains_on_epochs_with_a_subject_split(tmp_path):
    client = LocalClient(TrainingManager(tmp_path))
    client.start({**TINY, "save_dir": "m", "batch_size": 16}, data=_epochs(4), window_s=4)
    status = client.wait(timeout=300)
    assert status["state"] == "completed", status["error"]
    assert status["split"].startswith("by subject: 2 / 1 / 1 subjects")
    assert status["test_report"]["n"] > 0 and status["test_report"]["subjects"]


def test_save_npz_round_trips_through_an_epochs_source(tmp_path):
    from eegtrain_jupyter.config.training import parse_config
    from eegtrain_jupyter.data.inputs import save_npz
    from eegtrain_jupyter.data.paths import PathPolicy
    from eegtrain_jupyter.data.windows import scan

    epochs = _epochs(2)
    w = as_windows(epochs, window_s=4)
    save_npz(epochs, str(tmp_path / "mine.npz"), window_s=4)
    config = parse_config({"data": {"source": "epochs", "path": "mine.npz"}})
    back, summary = scan(config, PathPolicy(tmp_path))
    np.testing.assert_allclose(back.X, w.X, atol=1e-3)
    assert back.class_names == w.class_names and summary.subjects == ["s0", "s1"]


@pytest.mark.slow
def test_panel_trains_on_data_given_in_python(tmp_path):
    from eegtrain_jupyter.widgets import TrainingPanel

    client = LocalClient(TrainingManager(tmp_path))
    panel = TrainingPanel(client, data=_epochs(4), poll_interval=0.2)
    try:
        assert panel._start({**TINY, "save_dir": "m", "batch_size": 16}) is not None
        status = client.wait(timeout=300)
        assert status["state"] == "completed", status["error"]
        assert status["test_report"]["n"] > 0
    finally:
        panel.close()
