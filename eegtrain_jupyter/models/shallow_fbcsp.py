"""ShallowFBCSPNet (Schirrmeister et al. 2017): a learned filter-bank CSP, log band power, linear."""

from __future__ import annotations

from collections.abc import Sequence

from .braindecode_net import BraindecodeClassifier

__all__ = ["build_shallow_fbcsp"]


def build_shallow_fbcsp(
    ch_names: Sequence[str], n_times: int, sfreq: float, n_outputs: int
) -> BraindecodeClassifier:
    """``braindecode.models.ShallowFBCSPNet`` for ``(batch, len(ch_names), n_times)`` windows.

    The paper's 40 temporal and 40 spatial filters (25-sample kernels, mean-pooling 75 samples
    every 15); ``final_conv_length="auto"`` sizes the classifier to the window. At 200 Hz the
    kernel spans 125 ms and the pool 375 ms: band power over a few cycles of 8-30 Hz rhythms.
    """
    return BraindecodeClassifier(
        "shallow_fbcsp", "ShallowFBCSPNet", ch_names, n_times, sfreq, n_outputs, final_conv_length="auto"
    )
