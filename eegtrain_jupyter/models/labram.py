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

log = logging.getLogger(__name__)

__all__ = [
    "HEAD_NAME",
    "INPUT_SCALE",
    "BackboneInfo",
    "LabramClassifier",
    "PretrainedWeightsError",
    "build_classifier",
    "check_weights_file",
    "load_checkpoint",
    "read_state_dict",
]

INPUT_SCALE = 0.01
"""Microvolts to LaBraM's input unit (0.1 mV), as in the LaBraM paper's pre-processing."""
HEAD_NAME = "final_layer"
"""The classification head inside ``Labram``; everything else is the backbone."""


class PretrainedWeightsError(ValueError):
    """A weights file that cannot be used for this backbone."""


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

    def load_backbone(self, path: str | os.PathLike) -> BackboneInfo:
        """Load a local LaBraM state_dict into the backbone; the head keeps its fresh weights.

        Accepts a bare state_dict or one nested under ``model``/``state_dict``/``model_state_dict``,
        with optional ``module.``/``model.``/``student.``/``labram.`` prefixes. Missing and
        unexpected keys are returned, never hidden; a file that matches under half of the
        backbone's tensors is refused.
        """
        path = os.fspath(path)
        state = read_state_dict(path)
        own = self.labram.state_dict()
        backbone = {k for k in own if not k.startswith(HEAD_NAME + ".")}
        usable, unexpected = {}, []
        for key, value in state.items():
            if key in backbone and own[key].shape == value.shape:
                usable[key] = value
            elif not key.startswith(HEAD_NAME + "."):
                unexpected.append(key)
        if len(usable) < len(backbone) / 2:
            raise PretrainedWeightsError(
                f"{path} matches only {len(usable)} of {len(backbone)} LaBraM backbone tensors"
            )
        result = self.labram.load_state_dict(usable, strict=False)
        missing = sorted(k for k in result.missing_keys if k in backbone)
        return BackboneInfo("pretrained", path, missing, sorted(unexpected))


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a local weights file, keys without wrapper prefixes.

    Accepts a bare state_dict or one nested under ``model``/``state_dict``/``model_state_dict``,
    with optional ``module.``/``model.``/``student.``/``labram.`` prefixes. Loaded with
    ``weights_only=True`` (no code runs). Raises :class:`PretrainedWeightsError` with a short
    message naming the file (torch's own explanation goes to the log, not to the user).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise PretrainedWeightsError(f"pretrained_weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip or format errors
        log.info("cannot read %s: %s", path, exc)
        raise PretrainedWeightsError(f"not a PyTorch state_dict: {path}") from None
    for key in ("model_state_dict", "state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not any(torch.is_tensor(v) for v in state.values()):
        raise PretrainedWeightsError(f"not a PyTorch state_dict: {path}")
    return {_strip_prefixes(k): v for k, v in state.items() if torch.is_tensor(v)}


@functools.lru_cache(maxsize=1)
def _labram_backbone_keys() -> frozenset[str]:
    from braindecode.models import Labram

    with torch.random.fork_rng(devices=[]):
        keys = Labram(n_chans=2, n_times=200, n_outputs=2, sfreq=200.0).state_dict().keys()
    return frozenset(k for k in keys if not k.startswith(HEAD_NAME + "."))


def check_weights_file(path: str | os.PathLike) -> None:
    """Refuse, before any run starts, a file that is not a LaBraM state_dict.

    Raises
    ------
    PretrainedWeightsError
        ``not a PyTorch state_dict: <path>`` or ``not a LaBraM checkpoint: <path> (...)``.
    """
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except OSError:
        raise PretrainedWeightsError(f"pretrained_weights file not found: {path}") from None
    _check_weights(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _check_weights(path: str, mtime_ns: int, size: int) -> None:
    """:func:`check_weights_file` once per version of a file (the panel validates often)."""
    names = set(read_state_dict(path))
    backbone = _labram_backbone_keys()
    found = len(names & backbone)
    if found < len(backbone) / 2:
        raise PretrainedWeightsError(
            f"not a LaBraM checkpoint: {os.fspath(path)} "
            f"(it has {found} of the {len(backbone)} LaBraM backbone tensors)"
        )


def _strip_prefixes(key: str) -> str:
    for prefix in ("module.", "model.", "student.", "labram."):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key


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
    """Rebuild a trained classifier from ``best_synthetic_model.pth``; returns ``(model, checkpoint)``.

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
