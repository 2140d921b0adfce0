"""An end-to-end braindecode model with the signal facts it was built for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["BraindecodeClassifier"]


class BraindecodeClassifier(nn.Module):
    """A ``braindecode.models`` network plus channel names, sampling rate and window length.

    Parameters
    ----------
    name : str
        Registry name (``shallow_fbcsp``, ``eegnet``, ...).
    class_name : str
        The ``braindecode.models`` class, e.g. ``"ShallowFBCSPNet"``.
    ch_names : sequence of str
        Channel names, in input order.
    n_times : int
        Samples per window.
    sfreq : float
        Sampling rate in Hz.
    n_outputs : int
        Number of classes.
    **options
        Further keyword arguments of the class (its defaults otherwise).

    Input is ``(batch, n_chans, n_times)`` in microvolts (braindecode's usual unit); output the
    logits ``(batch, n_outputs)``.
    """

    input_scale = 1.0

    def __init__(
        self,
        name: str,
        class_name: str,
        ch_names: Sequence[str],
        n_times: int,
        sfreq: float,
        n_outputs: int,
        **options: Any,
    ):
        super().__init__()
        import braindecode.models

        self.name = name
        self.ch_names = list(ch_names)
        self.n_times = int(n_times)
        self.sfreq = float(sfreq)
        self.model_class = f"braindecode.models.{class_name}"
        self.model_kwargs: dict[str, Any] = {
            "n_chans": len(self.ch_names),
            "n_times": self.n_times,
            "n_outputs": int(n_outputs),
            "sfreq": self.sfreq,
            **options,
        }
        self.net = getattr(braindecode.models, class_name)(**self.model_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, n_outputs)`` of ``x`` ``(batch, n_chans, n_times)`` in µV."""
        out: torch.Tensor = self.net(x)
        return out

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> BraindecodeClassifier:
        """Rebuild from a checkpoint written by the engine (weights loaded)."""
        kwargs = dict(ckpt["model_kwargs"])
        class_name = str(ckpt["model_class"]).rsplit(".", 1)[-1]
        fixed = {k: kwargs.pop(k) for k in ("n_chans", "n_times", "n_outputs", "sfreq")}
        model = cls(
            ckpt["model"],
            class_name,
            ckpt["ch_names"],
            fixed["n_times"],
            fixed["sfreq"],
            fixed["n_outputs"],
            **kwargs,
        )
        model.net.load_state_dict(ckpt["model_state_dict"])
        return model
