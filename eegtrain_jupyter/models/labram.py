"""LaBraM (``braindecode.models.Labram``) as an EEG classifier (as many classes as the data has).

The classifier owns the signal facts it was built for (channel names, sampling rate,
window length) so callers pass only ``x`` of shape ``(batch, n_chans, n_times)``.
"""

from __future__ import annotations

import functools
import logging
import os

import torch
from torch import nn

from .info import BackboneInfo
from .pretrained import (
    LoadReport,
    PretrainedWeightsError,
    WeightsSource,
    locate,
    match_weights,
    read_weights,
)

log = logging.getLogger(__name__)

__all__ = [
    "CUT_TO_FIT",
    "HEAD_NAME",
    "INPUT_SCALE",
    "BackboneInfo",
    "LabramClassifier",
    "PretrainedWeightsError",
    "build_classifier",
    "check_weights_file",
    "load_checkpoint",
]

INPUT_SCALE = 0.01
"""Microvolts to LaBraM's input unit (0.1 mV), as in the LaBraM paper's pre-processing."""
HEAD_NAME = "final_layer"
"""The classification head inside ``Labram``; everything else is the backbone."""
CUT_TO_FIT = ("temporal_embedding",)
"""Tensors sized by the window length whose leading rows are all ``Labram`` reads."""


class LabramClassifier(nn.Module):
    """``Labram`` plus the channel names and input scaling it needs.

    Parameters
    ----------
    ch_names : sequence of str
        Channel names, each in ``braindecode.models.labram.LABRAM_CHANNEL_ORDER``.
    n_times : int
        Samples per window (a multiple of the 200-sample patch).
    sfreq : float
        Sampling rate in Hz (LaBraM's native rate is 200).
    n_outputs : int
        Number of classes.
    """

    name = "labram"
    model_class = "braindecode.models.Labram"
    input_scale = INPUT_SCALE
    head_name = HEAD_NAME
    head_key = HEAD_NAME

    def __init__(self, ch_names, n_times: int, sfreq: float, n_outputs: int = 2):
        super().__init__()
        from braindecode.models import Labram
        from braindecode.models.labram import LABRAM_CHANNEL_ORDER

        self.ch_names = list(ch_names)
        self.n_times = int(n_times)
        self.sfreq = float(sfreq)
        self.model_kwargs = {
            "n_chans": len(self.ch_names),
            "n_times": self.n_times,
            "n_outputs": int(n_outputs),
            "sfreq": self.sfreq,
        }
        self.labram = Labram(
            n_chans=len(self.ch_names), n_times=self.n_times, n_outputs=n_outputs, sfreq=self.sfreq
        )
        order = [name.upper() for name in LABRAM_CHANNEL_ORDER]
        # Position-embedding rows: [CLS] first, then each channel's canonical slot (as Labram.forward).
        self.register_buffer(
            "input_chans",
            torch.tensor([0] + [order.index(n.upper()) + 1 for n in self.ch_names]),
            persistent=False,
        )

    @property
    def net(self) -> nn.Module:
        """The ``braindecode`` network (its state_dict is what a checkpoint holds)."""
        return self.labram

    @property
    def head(self) -> nn.Module:
        return getattr(self.labram, HEAD_NAME)

    def backbone_parameters(self):
        """Parameters of everything except the head."""
        return (p for n, p in self.labram.named_parameters() if not n.startswith(HEAD_NAME + "."))

    def freeze_backbone(self) -> None:
        """Stop gradients to every parameter outside the head."""
        for p in self.backbone_parameters():
            p.requires_grad_(False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone output, shape ``(batch, embed_dim)``; input ``(batch, n_chans, n_times)`` in µV."""
        return self.labram.forward_features(x * INPUT_SCALE, input_chans=self.input_chans)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape ``(batch, n_outputs)``; input ``(batch, n_chans, n_times)`` in µV."""
        return self.labram(x * INPUT_SCALE, ch_names=self.ch_names)

    def load_backbone(self, weights: str | os.PathLike[str]) -> BackboneInfo:
        """Load pretrained weights into the backbone; the head keeps its fresh weights.

        ``weights`` is what ``pretrained_weights`` accepts (:func:`~.pretrained.locate`): a local
        file, a snapshot folder or a hub id. The temporal embedding of weights made for longer
        windows is cut to this model's (LaBraM reads only its leading rows).

        Raises
        ------
        PretrainedWeightsError
            Unreadable weights, a backbone tensor of another shape, or under
            :data:`~.pretrained.MIN_MATCHED` of the backbone's tensors matched.
        """
        source = locate(weights)
        usable, report = match_weights(
            self.labram.state_dict(),
            read_weights(source),
            is_head=_is_head,
            source=source.label,
            format=source.format,
            n_outputs=int(self.model_kwargs["n_outputs"]),
            cut_to_fit=CUT_TO_FIT,
            model_label="LaBraM's backbone",
        )
        self.labram.load_state_dict(usable, strict=False)
        return BackboneInfo.from_report(report)


def _is_head(key: str) -> bool:
    return key.startswith(HEAD_NAME + ".")


@functools.lru_cache(maxsize=1)
def _reference_state() -> dict[str, torch.Tensor]:
    """A LaBraM state_dict for the shortest window (one patch): what a weights file is checked
    against before the data's window length is known."""
    from braindecode.models import Labram

    with torch.random.fork_rng(devices=[]):
        return Labram(n_chans=2, n_times=200, n_outputs=2, sfreq=200.0).state_dict()


def check_weights_file(weights: str | os.PathLike[str]) -> LoadReport:
    """Refuse, before any run starts, weights that LaBraM's backbone cannot load.

    ``weights`` is a local weights file or snapshot folder (a hub id is fetched first: call this
    where the network may be used). Returns the match against a one-patch LaBraM.

    Raises
    ------
    PretrainedWeightsError
        As :meth:`LabramClassifier.load_backbone`.
    """
    source = locate(weights)
    st = source.path.stat()
    return _check_weights(source, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _check_weights(source: WeightsSource, mtime_ns: int, size: int) -> LoadReport:
    """:func:`check_weights_file` once per version of a file (the panel validates often)."""
    _, report = match_weights(
        _reference_state(),
        read_weights(source),
        is_head=_is_head,
        source=source.label,
        format=source.format,
        n_outputs=2,
        cut_to_fit=CUT_TO_FIT,
        model_label="LaBraM's backbone",
    )
    return report


def build_classifier(
    ch_names,
    n_times: int,
    sfreq: float,
    *,
    n_outputs: int = 2,
    seed: int,
    pretrained_weights: str | None = None,
    freeze_backbone: bool = False,
) -> tuple[LabramClassifier, BackboneInfo]:
    """Build the classifier with seeded weights (the global torch RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LabramClassifier(ch_names, n_times, sfreq, n_outputs)
    info = BackboneInfo("random")
    if pretrained_weights:
        info = model.load_backbone(pretrained_weights)
    if freeze_backbone:
        model.freeze_backbone()
    return model, info


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> tuple[nn.Module, dict]:
    """Rebuild a trained classifier from a run's checkpoint file; returns ``(model, checkpoint)``.

    The checkpoint's ``model`` names the classifier (missing in older ones: LaBraM); every model
    takes ``(batch, n_chans, n_times)`` in microvolts.
    """
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if ckpt.get("model", "labram") != "labram":
        from .registry import rebuild

        return rebuild(ckpt), ckpt
    model = LabramClassifier(ckpt["ch_names"], ckpt["n_times"], ckpt["sfreq"], len(ckpt["class_names"]))
    model.labram.load_state_dict(ckpt["model_state_dict"])
    model.eval()
    return model, ckpt
