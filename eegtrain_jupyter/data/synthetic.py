"""Synthetic two-class EEG ("relaxed" vs "anxious") at LaBraM's native 200 Hz.

Each window is built in the frequency domain, vectorised over chunks of windows: a 1/f (pink)
background plus narrow-band alpha around each simulated subject's individual alpha
frequency (IAF), frontal beta and a little gamma, then blink and muscle artefacts
are added in time. Classes differ on average (relaxed: strong posterior alpha;
anxious: less alpha, more frontal beta/gamma, more artefacts) but overlap through
subject, window and channel-gain variability, so the task is learnable, not trivial.

Speed: every per-window parameter comes from one seeded generator; the bulk noise of each
fixed-size chunk of windows comes from its own ``SeedSequence.spawn`` child and chunks run on
a thread pool (numpy's RNG and ``scipy.fft`` release the GIL), all in float32. The same seed
therefore gives identical arrays whatever the number of threads.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.fft

from ..config.data import CH_NAMES, CLASS_NAMES, N_TIMES, SFREQ
from .windows import Windows

__all__ = ["CH_NAMES", "CLASS_NAMES", "N_TIMES", "SFREQ", "generate"]


_FRONTAL = np.array([1, 1, 0.4, 0.4, 0, 0, 0, 0], dtype=np.float32)
_POSTERIOR = np.array([0.15, 0.15, 0.4, 0.4, 0.8, 0.8, 1, 1], dtype=np.float32)
_TEMPORAL = np.array([0.3, 0.3, 0.2, 0.2, 1, 1, 0.3, 0.3], dtype=np.float32)
_CHUNK = 256
"""Windows per independent noise stream; fixed, so the output never depends on the thread count."""


def _band(freqs: np.ndarray, lo: float, hi: float, edge: float = 1.5) -> np.ndarray:
    """Smooth band-pass amplitude response in [0, 1]."""
    with np.errstate(over="ignore"):  # exp overflow far from the band edges just means 0
        rise = 1 / (1 + np.exp(-(freqs - lo) / (edge / 4)))
        fall = 1 / (1 + np.exp((freqs - hi) / (edge / 4)))
    return (rise * fall).astype(np.float32)


def _standard_normal(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` float32 N(0, 1) draws by Box-Muller, ~2x faster than numpy's float32 ziggurat.

    The two normals of each pair go to the two halves of the output: all draws are
    independent, so their layout does not matter and every write stays contiguous.
    """
    half = -(-size // 2)
    u = rng.random((2, half), dtype=np.float32)
    r = np.log1p(-u[0])  # log of (0, 1]
    r *= -2.0
    np.sqrt(r, out=r)
    theta = u[1]
    theta *= np.float32(2 * np.pi)
    np.cos(theta, out=u[0])
    np.sin(theta, out=theta)
    u *= r
    return u.reshape(-1)[:size]


def _complex_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """complex64 array of ``shape`` with independent N(0, 1) real and imaginary parts."""
    n = int(np.prod(shape))
    return _standard_normal(rng, 2 * n).view(np.complex64).reshape(shape)


def _normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """float32 standard normals of ``shape``."""
    return _standard_normal(rng, int(np.prod(shape))).reshape(shape)


def generate(
    n_per_class: int,
    seed: int = 42,
    *,
    n_subjects: int = 24,
    n_times: int = N_TIMES,
    sfreq: float = SFREQ,
    patch: int = 200,
) -> Windows:
    """Generate ``2 * n_per_class`` labelled windows, deterministically from ``seed``.

    Parameters
    ----------
    n_per_class : int
        Windows per class.
    seed : int
        Seed of the ``numpy.random.Generator``; the global RNG is never touched.
    n_subjects : int
        Simulated subjects; each has its own IAF, alpha/beta gains and channel gains.
    n_times, sfreq : int, float
        Samples per window and sampling rate (the model's native rate; 4 s windows by default).
    patch : int
        Samples per model patch, recorded in the windows' preprocessing.

    Returns
    -------
    Windows
        ``X`` of shape ``(2 * n_per_class, 8, n_times)`` in microvolts, ``y`` class-sorted,
        ``subjects`` the simulated subject of each window.
    """
    if n_per_class < 1:
        raise ValueError("n_per_class must be >= 1")
    rng = np.random.default_rng(seed)
    n, n_ch = 2 * n_per_class, len(CH_NAMES)
    y = np.repeat(np.arange(2, dtype=np.int64), n_per_class)
    anxious = y.astype(np.float32)  # (n,)

    # Subjects: individual alpha frequency, trait gains, electrode gains.
    iaf_subj = np.clip(rng.normal(10.0, 0.8, n_subjects), 8.2, 11.8)
    alpha_subj = rng.lognormal(0.0, 0.45, n_subjects)
    beta_subj = rng.lognormal(0.0, 0.35, n_subjects)
    gain_subj = rng.lognormal(0.0, 0.15, (n_subjects, n_ch))
    subject = rng.integers(0, n_subjects, n)

    # Per-window state: class means shift, windows and subjects blur them.
    f32 = np.float32
    iaf = (iaf_subj[subject] + rng.normal(0, 0.3, n) - 0.4 * anxious).astype(f32)
    alpha_amp = (alpha_subj[subject] * rng.lognormal(0, 0.35, n) * (1.0 - 0.45 * anxious)).astype(f32)
    beta_amp = (beta_subj[subject] * rng.lognormal(0, 0.35, n) * (1.0 + 0.6 * anxious)).astype(f32)
    gamma_amp = (rng.lognormal(0, 0.4, n) * (0.5 + 0.5 * anxious)).astype(f32)
    # Electrode gains per subject times an overall amplitude per window: (n, ch, 1).
    gain = (gain_subj[subject] * rng.lognormal(0, 0.2, (n, 1))).astype(f32)[:, :, None]

    t = np.arange(n_times, dtype=f32) / f32(sfreq)
    # Eye blinks: frontal, ~0.25 s Gaussian deflections of 50-150 uV.
    blink = rng.random(n) < (0.15 + 0.25 * anxious)
    n_blink = int(blink.sum())
    blink_centre = rng.uniform(0.3, t[-1] - 0.3, n_blink).astype(f32)
    blink_height = rng.uniform(50, 150, n_blink).astype(f32)
    # Muscle: broadband bursts, mostly temporal/parietal, 0.3-1.5 s long.
    muscle = rng.random(n) < (0.10 + 0.25 * anxious)
    n_muscle = int(muscle.sum())
    muscle_start = rng.uniform(0, t[-1] - 1.5, n_muscle).astype(f32)
    muscle_len = rng.uniform(0.3, 1.5, n_muscle).astype(f32)
    muscle_scale = rng.uniform(5, 15, n_muscle).astype(f32)

    freqs = np.fft.rfftfreq(n_times, 1 / sfreq).astype(f32)  # (F,)
    pink = 1.0 / np.sqrt(np.maximum(freqs, f32(0.5)))  # 1/f power -> 1/sqrt(f) amplitude
    pink[0] = 0.0
    # Fixed per-channel spectral profiles, (ch, F); per-window gains multiply them.
    base = np.broadcast_to(1.6 * pink, (n_ch, len(freqs)))
    beta_prof = 0.9 * (0.35 + _FRONTAL)[:, None] * _band(freqs, 13, 30)
    gamma_prof = 0.35 * (0.3 + _FRONTAL)[:, None] * _band(freqs, 30, 45)
    alpha_chan = 4.0 * _POSTERIOR[:, None]

    blink_rank, muscle_rank = np.cumsum(blink) - 1, np.cumsum(muscle) - 1  # window -> artefact row
    X = np.empty((n, n_ch, n_times), dtype=f32)
    # Gaussian white noise drawn directly as its spectrum: rfft of unit white noise has
    # independent N(0, n_times/2) real and imaginary parts (DC/Nyquist: real, N(0, n_times)).
    # 6.0 brings the result to a typical scalp-EEG scale of tens of microvolts.
    noise_scale = f32(6.0 * np.sqrt(n_times / 2))
    edge_bins = [0] + ([len(freqs) - 1] if n_times % 2 == 0 else [])

    def make_chunk(k: int, seq: np.random.SeedSequence) -> None:
        sl = slice(k * _CHUNK, min((k + 1) * _CHUNK, n))
        crng = np.random.default_rng(seq)
        m = sl.stop - sl.start
        alpha_shape = np.exp(f32(-0.5) * ((freqs[None, :] - iaf[sl, None]) / f32(0.9)) ** 2)  # (m, F)
        amp = alpha_amp[sl, None, None] * alpha_chan[None] * alpha_shape[:, None, :]  # (m, ch, F)
        amp += base
        amp += beta_amp[sl, None, None] * beta_prof
        amp += gamma_amp[sl, None, None] * gamma_prof
        amp *= noise_scale
        spectrum = _complex_normal(crng, (m, n_ch, len(freqs)))
        spectrum[..., edge_bins] = spectrum[..., edge_bins].real * f32(np.sqrt(2))
        spectrum *= amp
        x = scipy.fft.irfft(spectrum, n=n_times, axis=-1, workers=1)
        if x.dtype != f32:
            x = x.astype(f32)
        lo, hi = sl.start, sl.stop
        # Artefacts of this chunk's windows (their parameters were drawn above, in window order).
        idx = np.flatnonzero(blink[lo:hi])
        if idx.size:
            j = blink_rank[lo + idx]
            bump = blink_height[j, None] * np.exp(
                f32(-0.5) * ((t[None, :] - blink_centre[j, None]) / f32(0.08)) ** 2
            )
            x[idx] += bump[:, None, :] * _FRONTAL[None, :, None]
        idx = np.flatnonzero(muscle[lo:hi])
        if idx.size:
            j = muscle_rank[lo + idx]
            env = (
                (t[None, :] >= muscle_start[j, None])
                & (t[None, :] < (muscle_start[j] + muscle_len[j])[:, None])
            ).astype(f32)
            burst = _normal(crng, (idx.size, n_ch, n_times))
            burst *= muscle_scale[j, None, None] * _TEMPORAL[None, :, None]
            burst *= env[:, None, :]
            x[idx] += burst
        x *= gain[sl]
        X[sl] = x

    n_chunks = -(-n // _CHUNK)
    seqs = np.random.SeedSequence(seed).spawn(n_chunks)
    workers = min(n_chunks, os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:  # numpy RNG and scipy.fft release the GIL
            list(pool.map(make_chunk, range(n_chunks), seqs))
    else:
        for k, seq in enumerate(seqs):
            make_chunk(k, seq)
    from .preprocess import Preprocessing

    # model_construct: known-valid values, and no braindecode import (for the channel check) in
    # the training thread, where a concurrent import of braindecode can deadlock
    prep = Preprocessing.model_construct(
        ch_names=list(CH_NAMES), sfreq=sfreq, window_s=n_times / sfreq, patch=patch
    )
    return Windows(
        X=X,
        y=y,
        ch_names=CH_NAMES,
        sfreq=sfreq,
        class_names=CLASS_NAMES,
        subjects=subject.astype(np.int64),
        preprocessing=prep,
    )
