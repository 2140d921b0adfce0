"""Reading a recording span by span (``recordings.load_files``) against preprocessing it whole.

The scan opens recordings with ``preload=False`` and reads only the labelled stretches, each
with padding for the band-pass and the resampler (``preprocess.apply_to_raw(raw, prep, start,
stop)``). The reference here is what the scan did before: ``apply_to_raw`` on the whole
recording, windows cut at ``time_as_index`` (MNE's) of the preprocessed recording.
"""

from __future__ import annotations

import mne
import numpy as np
import pytest
from recordings import CHANNELS, LABELS, write

from eegtrain_jupyter.config.training import parse_config
from eegtrain_jupyter.data.paths import PathPolicy
from eegtrain_jupyter.data.preprocess import Preprocessing, apply_to_raw, processed_grid
from eegtrain_jupyter.data.recordings import _labelled
from eegtrain_jupyter.data.windows import scan


def _recording(sfreq: float, minutes: float = 8.0, every_s: float = 60.0, block_s: float = 8.0):
    """Alternating labelled 8 s blocks every 60 s (so each is read as a piece of its own: the gap
    is longer than twice the padding), white noise (flat up to Nyquist: the resampler's worst
    case) plus a 10 Hz sine, volts."""
    rng = np.random.default_rng(3)
    n = int(sfreq * 60 * minutes)
    t = np.arange(n) / sfreq
    data = rng.normal(0, 10e-6, (len(CHANNELS), n)) + 20e-6 * np.sin(2 * np.pi * 10 * t)
    raw = mne.io.RawArray(data, mne.create_info(CHANNELS, sfreq, "eeg"), verbose="error")
    onsets = np.arange(5.0, n / sfreq - block_s, every_s)
    raw.set_annotations(
        mne.Annotations(
            onsets, block_s, ["eyes_closed" if i % 2 == 0 else "task" for i in range(len(onsets))]
        )
    )
    return raw


def _whole(path, cfg, prep: Preprocessing, classes):
    """The windows of the whole-recording preprocessing, cut with MNE's ``time_as_index``."""
    raw = _labelled(mne.io.read_raw(path, verbose="error"), cfg.labels)
    proc = apply_to_raw(raw, prep)
    assert processed_grid(raw, prep) == (proc.info["sfreq"], proc.first_samp, proc.n_times)
    data, sfreq, n_times = proc.get_data(), proc.info["sfreq"], prep.n_times
    step = max(1, round((cfg.step_s or cfg.window_s) * sfreq))
    ann = proc.annotations
    starts, labels = [], []
    for onset, duration, desc in zip(ann.onset, ann.duration, ann.description, strict=True):
        if desc not in cfg.labels:
            continue
        first = int(proc.time_as_index(onset + cfg.tmin, use_rounding=True, origin=ann.orig_time)[0])
        last = first + round((duration - cfg.tmin) * sfreq) - n_times if cfg.sliding else first
        span = [s for s in range(first, last + 1, step) if s >= 0 and s + n_times <= data.shape[1]]
        starts += span
        labels += [classes.index(cfg.labels[desc])] * len(span)
    index = np.asarray(starts)[:, None] + np.arange(n_times)
    return (data[:, index].transpose(1, 0, 2) * prep.scale).astype(np.float32), np.asarray(labels)


def _both(tmp_path, path, **data):
    cfg = parse_config(
        {
            "data": {
                "source": "files",
                "paths": [path.relative_to(tmp_path).as_posix()],
                "labels": LABELS,
                **data,
            }
        }
    )
    windows, _ = scan(cfg, PathPolicy(tmp_path))
    X, y = _whole(path, cfg.data, windows.prep(), list(windows.class_names))
    np.testing.assert_array_equal(windows.y, y)  # same windows, same labels, same order
    assert windows.X.shape == X.shape
    return windows.X, X


@pytest.mark.parametrize("band", [(None, None), (0.5, None), (1.0, 40.0)])
def test_without_resampling_the_spans_give_the_same_windows_bit_for_bit(tmp_path, band):
    """200 Hz: only the band-pass, whose FIR length of padding on each side makes every window
    sample see the samples it sees in the whole recording (measured: identical float32)."""
    path = write(_recording(200.0), tmp_path / "rec", "a", "edf")
    lazy, whole = _both(tmp_path, path, sliding=True, step_s=1.0, l_freq=band[0], h_freq=band[1])
    assert len(lazy) == 8 * 5
    np.testing.assert_array_equal(lazy, whole)


@pytest.mark.parametrize(
    ("sfreq", "band", "bound"),
    [
        (256.0, (0.5, None), 0.05),
        (250.0, (None, None), 0.05),
        (256.0, (1.0, 40.0), 2e-3),
        (500.0, (1.0, 40.0), 2e-3),
    ],
)
def test_resampled_spans_match_the_whole_recording_up_to_edge_effects(tmp_path, sfreq, band, bound):
    """With resampling the spans start on a source sample that falls on the 200 Hz grid, so the
    windows are the same samples; the FFT resampler still sees the whole span, and its reflected
    padding at the span's ends differs from the recording around it. A brick-wall at the new
    Nyquist turns that into a sinc tail that fades slowly: measured max |diff| / std 1.0-1.7e-2
    for white noise (power right up to 100 Hz, the worst case) without a low-pass, and
    1.1-2.1e-4 with a 40 Hz low-pass (about 1e-3 on pink noise without one)."""
    path = write(_recording(sfreq), tmp_path / "rec", "a", "edf")
    lazy, whole = _both(tmp_path, path, sliding=True, step_s=1.0, l_freq=band[0], h_freq=band[1])
    assert len(lazy) == 8 * 5
    assert np.abs(lazy - whole).max() / whole.std() < bound


def test_window_starts_follow_meas_date_and_first_samp(tmp_path):
    """A FIF cropped out of a longer recording (``first_samp`` > 0, annotations anchored to
    ``meas_date``), 250 Hz, a negative ``tmin`` and a window per annotation: the starts are
    ``time_as_index``'s on the preprocessed recording."""
    raw = _recording(250.0, minutes=6.0)
    raw.set_meas_date(1_600_000_000.25)
    raw.crop(37.3, None)
    assert raw.first_samp > 0 and raw.annotations.orig_time is not None
    path = write(raw, tmp_path / "rec", "a", "fif")
    lazy, whole = _both(tmp_path, path, sliding=False, tmin=-0.5, l_freq=1.0, h_freq=40.0)
    assert len(lazy) == 5
    assert np.abs(lazy - whole).max() / whole.std() < 2e-3


def test_samples_outside_the_labelled_spans_are_never_read(tmp_path):
    """NaN samples far from every labelled span (here: 30 s in the middle of a 60 s gap) do not
    reach the windows: that stretch is not read. The whole-recording band-pass spreads them
    into every window."""
    raw = _recording(200.0, minutes=3.0)
    data = raw.get_data()
    data[:, 30 * 200 : 45 * 200] = np.nan
    raw = mne.io.RawArray(data, raw.info, verbose="error").set_annotations(raw.annotations)
    path = write(raw, tmp_path / "rec", "a", "fif")
    cfg = parse_config(
        {
            "data": {
                "source": "files",
                "paths": ["rec/a_raw.fif"],
                "labels": LABELS,
                "sliding": True,
                "l_freq": 1.0,
                "h_freq": 40.0,
            }
        }
    )
    windows, _ = scan(cfg, PathPolicy(tmp_path))
    assert len(windows) == 3 * 2 and np.isfinite(windows.X).all()
    whole, _ = _whole(path, cfg.data, windows.prep(), list(windows.class_names))
    assert not np.isfinite(whole).all()


def test_a_span_is_exactly_the_samples_asked_for(tmp_path):
    """``apply_to_raw(raw, prep, start, stop)`` gives ``stop - start`` samples, up to the
    recording's last one; past it or a reversed span is a ValueError."""
    path = write(_recording(256.0, minutes=1.0), tmp_path / "rec", "a", "edf")
    raw = mne.io.read_raw(path, verbose="error")
    prep = Preprocessing(ch_names=[c.upper() for c in CHANNELS], window_s=4.0, l_freq=1.0)
    _, _, n = processed_grid(raw, prep)
    assert n == 60 * 200
    assert apply_to_raw(raw, prep, n - 800, n).n_times == 800
    assert apply_to_raw(raw, prep, 0, 10).n_times == 10
    with pytest.raises(ValueError, match="past the end"):
        apply_to_raw(raw, prep, n - 800, n + 1)
    with pytest.raises(ValueError, match="0 <= start < stop"):
        apply_to_raw(raw, prep, 10, 10)
