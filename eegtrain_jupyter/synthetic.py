"""Synthetic two-class EEG ("relaxed" vs "anxious") at LaBraM's native 200 Hz.

Each window is built in the frequency domain in one vectorised pass: a 1/f (pink)
background plus narrow-band alpha around each simulated subject's individual alpha
frequency (IAF), frontal beta and a little gamma, then blink and muscle artefacts
are added in time. Classes differ on average (relaxed: strong posterior alpha;
anxious: less alpha, more frontal beta/gamma, more artefacts) but overlap through
subject, window and channel-gain variability, so the task is learnable, not trivial.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

__all__ = ["SFREQ", "N_TIMES", "CH_NAMES", "CLASS_NAMES", "SyntheticEEG", "generate"]

SFREQ = 200.0
"""Sampling rate in Hz (LaBraM's native rate)."""
N_TIMES = 800
"""Samples per window: 4 s, i.e. four 200-sample LaBraM patches."""
CH_NAMES = ("FP1", "FP2", "C3", "C4", "P7", "P8", "O1", "O2")
"""Channel names, all in braindecode's ``LABRAM_CHANNEL_ORDER``."""
CLASS_NAMES = ("relaxed", "anxious")
"""Label ``i`` means ``CLASS_NAMES[i]``."""

_FRONTAL = np.array([1, 1, 0.4, 0.4, 0, 0, 0, 0], dtype=np.float32)
_POSTERIOR = np.array([0.15, 0.15, 0.4, 0.4, 0.8, 0.8, 1, 1], dtype=np.float32)
_TEMPORAL = np.array([0.3, 0.3, 0.2, 0.2, 1, 1, 0.3, 0.3], dtype=np.float32)


@dataclass(frozen=True)
class SyntheticEEG:
    """Windows with the signal facts that travel with them.

    Attributes
    ----------
    X : ndarray, shape (n_windows, n_chans, n_times), float32, microvolts
    y : ndarray, shape (n_windows,), int64, index into ``class_names``
    subject : ndarray, shape (n_windows,), int64, simulated subject id
    """

    X: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    ch_names: tuple[str, ...] = CH_NAMES
    sfreq: float = SFREQ
    class_names: tuple[str, ...] = CLASS_NAMES

    def __len__(self) -> int:
        return len(self.y)

    def to_mne(self):
        """Return an :class:`mne.EpochsArray` (data in volts, event ids by class name)."""
        import mne

        info = mne.create_info(list(self.ch_names), self.sfreq, ch_types="eeg")
        events = np.column_stack(
            [np.arange(len(self)) * self.X.shape[-1], np.zeros(len(self), int), self.y]
        ).astype(int)
        event_id = {name: i for i, name in enumerate(self.class_names)}
        return mne.EpochsArray(self.X.astype(np.float64) * 1e-6, info, events, event_id=event_id, verbose="error")


def _band(freqs: np.ndarray, lo: float, hi: float, edge: float = 1.5) -> np.ndarray:
    """Smooth band-pass amplitude response in [0, 1]."""
    with np.errstate(over="ignore"):  # exp overflow far from the band edges just means 0
        rise = 1 / (1 + np.exp(-(freqs - lo) / (edge / 4)))
        fall = 1 / (1 + np.exp((freqs - hi) / (edge / 4)))
    return (rise * fall).astype(np.float32)


def generate(
    n_per_class: int,
    seed: int = 42,
    *,
    n_subjects: int = 24,
    n_times: int = N_TIMES,
    sfreq: float = SFREQ,
) -> SyntheticEEG:
    """Generate ``2 * n_per_class`` labelled windows, deterministically from ``seed``.

    Parameters
    ----------
    n_per_class : int
        Windows per class.
    seed : int
        Seed of the ``numpy.random.Generator``; the global RNG is never touched.
    n_subjects : int
        Simulated subjects; each has its own IAF, alpha/beta gains and channel gains.

    Returns
    -------
    SyntheticEEG
        ``X`` of shape ``(2 * n_per_class, 8, n_times)`` in microvolts, ``y`` class-sorted.
    """
    if n_per_class < 1:
        raise ValueError("n_per_class must be >= 1")
    rng = np.random.default_rng(seed)
    n, n_ch = 2 * n_per_class, len(CH_NAMES)
    y = np.repeat(np.arange(2, dtype=np.int64), n_per_class)
    anxious = y.astype(np.float32)[:, None]  # (n, 1)

    # Subjects: individual alpha frequency, trait gains, electrode gains.
    iaf_subj = np.clip(rng.normal(10.0, 0.8, n_subjects), 8.2, 11.8)
    alpha_subj = rng.lognormal(0.0, 0.45, n_subjects)
    beta_subj = rng.lognormal(0.0, 0.35, n_subjects)
    gain_subj = rng.lognormal(0.0, 0.15, (n_subjects, n_ch))
    subject = rng.integers(0, n_subjects, n)

    # Per-window state: class means shift, windows and subjects blur them.
    iaf = (iaf_subj[subject] + rng.normal(0, 0.3, n) - 0.4 * anxious[:, 0]).astype(np.float32)
    alpha_amp = alpha_subj[subject] * rng.lognormal(0, 0.35, n) * (1.0 - 0.45 * anxious[:, 0])
    beta_amp = beta_subj[subject] * rng.lognormal(0, 0.35, n) * (1.0 + 0.6 * anxious[:, 0])
    gamma_amp = rng.lognormal(0, 0.4, n) * (0.5 + 0.5 * anxious[:, 0])

    freqs = np.fft.rfftfreq(n_times, 1 / sfreq).astype(np.float32)  # (F,)
    pink = 1.0 / np.sqrt(np.maximum(freqs, 0.5))  # 1/f power -> 1/sqrt(f) amplitude
    pink[0] = 0.0
    beta_band = _band(freqs, 13, 30)
    gamma_band = _band(freqs, 30, 45)
    alpha_shape = np.exp(-0.5 * ((freqs[None, :] - iaf[:, None]) / 0.9) ** 2)  # (n, F)

    # Spectral amplitude per window, channel, frequency: (n, ch, F)
    amp = (
        (1.6 * pink)[None, None, :]
        + (4.0 * alpha_amp)[:, None, None] * _POSTERIOR[None, :, None] * alpha_shape[:, None, :]
        + (0.9 * beta_amp)[:, None, None] * (0.35 + _FRONTAL)[None, :, None] * beta_band
        + (0.35 * gamma_amp)[:, None, None] * (0.3 + _FRONTAL)[None, :, None] * gamma_band
    ).astype(np.float32)
    white = rng.standard_normal((n, n_ch, n_times), dtype=np.float32)
    spectrum = scipy.fft.rfft(white, axis=-1, workers=-1)
    spectrum *= amp
    X = scipy.fft.irfft(spectrum, n=n_times, axis=-1, workers=-1).astype(np.float32, copy=False)
    X *= 6.0  # to a typical scalp-EEG scale of tens of microvolts

    t = np.arange(n_times, dtype=np.float32) / sfreq
    # Eye blinks: frontal, ~0.25 s Gaussian deflections of 50-150 uV.
    blink = rng.random(n) < (0.15 + 0.25 * anxious[:, 0])
    idx = np.flatnonzero(blink)
    if idx.size:
        centre = rng.uniform(0.3, t[-1] - 0.3, idx.size).astype(np.float32)
        height = rng.uniform(50, 150, idx.size).astype(np.float32)
        bump = height[:, None] * np.exp(-0.5 * ((t[None, :] - centre[:, None]) / 0.08) ** 2)
        X[idx] += bump[:, None, :] * _FRONTAL[None, :, None]
    # Muscle: broadband bursts, mostly temporal/parietal, 0.3-1.5 s long.
    muscle = rng.random(n) < (0.10 + 0.25 * anxious[:, 0])
    idx = np.flatnonzero(muscle)
    if idx.size:
        start = rng.uniform(0, t[-1] - 1.5, idx.size).astype(np.float32)
        length = rng.uniform(0.3, 1.5, idx.size).astype(np.float32)
        env = ((t[None, :] >= start[:, None]) & (t[None, :] < (start + length)[:, None])).astype(np.float32)
        burst = rng.standard_normal((idx.size, n_ch, n_times), dtype=np.float32)
        burst *= rng.uniform(5, 15, (idx.size, 1, 1)).astype(np.float32)
        X[idx] += burst * env[:, None, :] * _TEMPORAL[None, :, None]

    # Electrode gains per subject and an overall amplitude per window.
    X *= gain_subj[subject][:, :, None].astype(np.float32)
    X *= rng.lognormal(0, 0.2, (n, 1, 1)).astype(np.float32)
    return SyntheticEEG(X=X, y=y, subject=subject.astype(np.int64))
