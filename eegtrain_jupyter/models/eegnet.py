"""EEGNet (Lawhern et al. 2018): a compact depthwise-separable CNN (braindecode's ``EEGNet``,
formerly ``EEGNetv4``)."""

from __future__ import annotations

from collections.abc import Sequence

from .braindecode_net import BraindecodeClassifier

__all__ = ["build_eegnet"]


def build_eegnet(
    ch_names: Sequence[str], n_times: int, sfreq: float, n_outputs: int
) -> BraindecodeClassifier:
    """``braindecode.models.EEGNet`` (EEGNet-8,2) for ``(batch, len(ch_names), n_times)`` windows.

    The temporal kernel is half a second of samples (64 at 128 Hz in the paper; 100 at 200 Hz),
    so it resolves rhythms down to about 2 Hz whatever the sampling rate.
    """
    return BraindecodeClassifier(
        "eegnet",
        "EEGNet",
        ch_names,
        n_times,
        sfreq,
        n_outputs,
        kernel_length=max(16, round(sfreq / 2)),
        final_conv_length="auto",
    )
