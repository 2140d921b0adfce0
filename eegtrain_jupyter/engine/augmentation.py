"""Data augmentation of training batches with ``braindecode.augmentation`` (config ``augmentation``).

The transforms run on the device, on each training batch after it is gathered and before the
forward pass; validation and test batches are never augmented. Each transform draws from its own
``numpy`` generator seeded by the run's seed, the transform's name and the process rank, so a run
repeats exactly and the ranks of a sharded run draw independently. Parameters: braindecode's
defaults, except where they are in absolute units (the time mask is 0.5 s; the Gaussian noise's
standard deviation is 0.1 × that of the training windows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..config.training import AUGMENTATIONS

__all__ = ["Augmenter", "make_augmenter"]


def _transform(
    name: str, p: float, rng: np.random.RandomState, sfreq: float, scale: float
) -> torch.nn.Module:
    from braindecode.augmentation import transforms as T

    builders: dict[str, Callable[[], torch.nn.Module]] = {
        "time_reverse": lambda: T.TimeReverse(p, random_state=rng),
        "sign_flip": lambda: T.SignFlip(p, random_state=rng),
        "ft_surrogate": lambda: T.FTSurrogate(p, random_state=rng),
        "channels_dropout": lambda: T.ChannelsDropout(p, p_drop=0.2, random_state=rng),
        "smooth_time_mask": lambda: T.SmoothTimeMask(p, mask_len_samples=round(sfreq / 2), random_state=rng),
        "gaussian_noise": lambda: T.GaussianNoise(p, std=0.1 * scale, random_state=rng),
        "frequency_shift": lambda: T.FrequencyShift(p, sfreq=sfreq, max_delta_freq=2, random_state=rng),
    }
    assert builders.keys() == set(AUGMENTATIONS), "config.AUGMENTATIONS and the builders disagree"
    return builders[name]()


class Augmenter:
    """The configured transforms, applied in order to a batch ``(n, n_chans, n_times)``.

    Parameters
    ----------
    names : sequence of str
        Names from :data:`~eegtrain_jupyter.config.training.AUGMENTATIONS`.
    probability : float
        Chance that each transform changes a window (braindecode's ``probability``).
    sfreq : float
        Sampling rate of the windows (Hz).
    scale : float
        Standard deviation of the training windows (the Gaussian noise is 0.1 of it).
    seed, rank : int
        The run's seed and this process's rank.
    """

    def __init__(
        self, names: Sequence[str], probability: float, sfreq: float, scale: float, seed: int, rank: int = 0
    ):
        self.names = list(names)
        self.transforms = [
            _transform(name, probability, _rng(seed, name, rank), sfreq, scale) for name in self.names
        ]

    @torch.no_grad()
    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        dtype = X.dtype
        for transform in self.transforms:
            X = transform(X)
        return X.to(dtype)


def _rng(seed: int, name: str, rank: int) -> np.random.RandomState:
    return np.random.RandomState(
        np.random.SeedSequence([seed, AUGMENTATIONS.index(name), rank]).generate_state(4)
    )


def make_augmenter(
    names: Sequence[str],
    probability: float,
    X: np.ndarray,
    train_idx: np.ndarray,
    sfreq: float,
    seed: int,
    rank: int,
) -> Augmenter | None:
    """An :class:`Augmenter` for these training windows, or None when ``names`` is empty.

    The noise scale is the standard deviation of up to 256 training windows (a memory-mapped set
    is not read whole).
    """
    if not names:
        return None
    sample = np.asarray(X[np.sort(train_idx[:256])], dtype=np.float64)
    return Augmenter(names, probability, sfreq, float(sample.std()) or 1.0, seed, rank)
