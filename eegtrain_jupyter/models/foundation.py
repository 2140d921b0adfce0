"""The foundation models braindecode ships beside LaBraM: CBraMod, EEGPT and BIOT, each a pretrained
backbone plus a linear head, at its native sampling rate and patch length.

Every model here, like :class:`~.labram.LabramClassifier`, offers what the engine's frozen-backbone
path and the weights loader use, whatever the model (:class:`BackboneClassifier`): ``net`` (the
braindecode network, whose ``state_dict`` a checkpoint holds), ``features(x)`` (what the head reads,
``(batch, n_features)``), ``head`` (the ``nn.Linear`` that reads them), ``head_name`` (the module
of ``net`` outside the backbone), ``head_key`` (the head's state-dict prefix inside ``net``),
``freeze_backbone()`` and ``load_backbone(weights)``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from ..config.names import native_signal
from ..data.preprocess import check_model_channels
from ..errors import ConfigError
from .info import BackboneInfo
from .pretrained import LoadReport, WeightsSource, locate, match_weights, read_weights

__all__ = [
    "FOUNDATION_MODELS",
    "HEAD_NAME",
    "BackboneClassifier",
    "FoundationClassifier",
    "FoundationSpec",
    "build_foundation",
    "check_foundation_weights",
]

HEAD_NAME = "final_layer"
"""The head inside every braindecode foundation model; everything else is the backbone."""


@runtime_checkable
class BackboneClassifier(Protocol):
    """A classifier split into a backbone and a linear head (LaBraM and the models here)."""

    name: str
    head_name: str
    head_key: str
    model_class: str
    model_kwargs: dict[str, Any]
    input_scale: float
    ch_names: list[str]

    @property
    def net(self) -> nn.Module: ...

    @property
    def head(self) -> nn.Module: ...

    def features(self, x: torch.Tensor) -> torch.Tensor: ...

    def eval(self) -> Any: ...

    def freeze_backbone(self) -> None: ...

    def load_backbone(self, weights: str | os.PathLike[str]) -> BackboneInfo: ...


def _flat(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The encoder's tokens, flattened: what a ``Flatten`` + ``Linear`` head reads."""
    out: torch.Tensor = net(x, return_features=True)["features"]
    return out.flatten(1)


def _biot(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """BIOT's channel-averaged embedding through its head's activation (what the head's linear reads)."""
    emb: torch.Tensor = net(x, return_features=True)["features"]
    out: torch.Tensor = net.get_submodule(f"{HEAD_NAME}.activation_layer")(emb)
    return out


def _linear_head(net: nn.Module, n_outputs: int) -> nn.Module:
    """``Flatten`` + ``Linear`` over EEGPT's summary tokens of every patch (its default probe is two
    constrained layers with dropout between: not the one linear layer the frozen-backbone path
    trains on cached features)."""
    eegpt: Any = net
    n_features = int(eegpt.n_patches) * int(eegpt.embed_num) * int(eegpt.embed_dim)
    return nn.Sequential(nn.Flatten(1), nn.Linear(n_features, n_outputs))


def _percentile_scale(x: torch.Tensor) -> torch.Tensor:
    """Each channel of each window divided by its 95th percentile of absolute amplitude, as BIOT's
    pretraining normalised its input (the unit then no longer matters)."""
    return x / (torch.quantile(x.abs().float(), 0.95, dim=-1, keepdim=True) + 1e-8)


@dataclass(frozen=True)
class FoundationSpec:
    """How one braindecode foundation model becomes a classifier here.

    Attributes
    ----------
    name : str
        The config's ``model`` value.
    class_name : str
        The ``braindecode.models`` class.
    head_key : str
        State-dict prefix (inside the network) of the ``nn.Linear`` the frozen path trains.
    features : callable
        ``features(net, x)``: what that linear reads, ``(batch, n_features)``.
    options : mapping
        Constructor arguments beyond the signal facts.
    input_scale : float
        Microvolts to the unit the model was pretrained on.
    hub : str
        Where pretrained weights are published.
    vocabulary : str
        How the model places channels (for docs and errors).
    make_head : callable, optional
        ``make_head(net, n_outputs)``: a head replacing the network's own.
    normalize : callable, optional
        Applied to the scaled input before the network.
    derived : tuple of str
        State-dict keys the model computes from its own channels (never loaded from weights).
    cut_to_fit : mapping of str to int
        Keys whose file tensor may be longer along that dimension (the leading rows are loaded).
    min_n_times : callable, optional
        ``min_n_times(n_chans)``: a window shorter than this is refused; ``max_n_times`` likewise.
    """

    name: str
    class_name: str
    head_key: str
    features: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    options: Mapping[str, Any]
    input_scale: float
    hub: str
    vocabulary: str
    make_head: Callable[[nn.Module, int], nn.Module] | None = None
    normalize: Callable[[torch.Tensor], torch.Tensor] | None = None
    derived: tuple[str, ...] = ()
    cut_to_fit: Mapping[str, int] = field(default_factory=dict)
    max_tokens: int | None = None

    @property
    def label(self) -> str:
        return self.class_name


FOUNDATION_MODELS: dict[str, FoundationSpec] = {
    "cbramod": FoundationSpec(
        "cbramod",
        "CBraMod",
        head_key=f"{HEAD_NAME}.1",
        features=_flat,
        options={},
        input_scale=0.01,  # 100 µV units, as CBraMod's pretraining data
        hub="hf://braindecode/cbramod-pretrained",
        vocabulary="any channel set (convolutional positional encoding over the channel axis)",
    ),
    "eegpt": FoundationSpec(
        "eegpt",
        "EEGPT",
        head_key=f"{HEAD_NAME}.1",
        features=_flat,
        # each channel placed by name on EEGPT's channel embedding (no learned projection to 19)
        options={"chan_proj_type": "none"},
        input_scale=0.001,  # millivolts
        hub="hf://braindecode/eegpt-pretrained",
        vocabulary="EEGPT_CHANNELS (62 10-10 names), by name",
        make_head=_linear_head,
        derived=("chans_id",),
    ),
    "biot": FoundationSpec(
        "biot",
        "BIOT",
        head_key=f"{HEAD_NAME}.classification_head",
        features=_biot,
        options={},
        input_scale=1.0,  # normalised per channel: the unit does not matter
        hub="hf://braindecode/biot-pretrained-six-datasets-18chs",
        vocabulary="one learned token per input position (18 in the pretrained weights)",
        normalize=_percentile_scale,
        cut_to_fit={"encoder.channel_tokens.weight": 0},
        max_tokens=1024,
    ),
}
"""The foundation models beside LaBraM, by config name."""


def _check_signal(spec: FoundationSpec, ch_names: Sequence[str], n_times: int, sfreq: float) -> None:
    """Refuse windows the model cannot read (a :class:`ConfigError` naming the field)."""
    native = native_signal(spec.name)
    if abs(sfreq - native.sfreq) > 1e-6:
        raise ConfigError.field(
            "data",
            f"model {spec.name} reads {native.sfreq:g} Hz windows, not {sfreq:g} Hz "
            "(a training config resamples to it; resample windows passed in)",
        )
    if n_times < native.patch or n_times % native.patch:
        raise ConfigError.field(
            "data.window_s",
            f"model {spec.name} reads whole {native.patch}-sample patches; windows have {n_times} samples",
        )
    check_model_channels(list(ch_names), spec.name)
    if spec.max_tokens is not None:
        # BIOT: one token per channel and spectrogram frame (1 s frames every 0.5 s)
        tokens = len(ch_names) * ((n_times - native.patch) // (native.patch // 2) + 1)
        if tokens > spec.max_tokens:
            raise ConfigError.field(
                "data.window_s",
                f"model {spec.name} reads at most {spec.max_tokens} tokens; {len(ch_names)} channels of "
                f"{n_times / sfreq:g} s windows make {tokens} (use fewer channels or shorter windows)",
            )


class FoundationClassifier(nn.Module):
    """A braindecode foundation model as a classifier of ``(batch, n_chans, n_times)`` microvolts.

    Parameters
    ----------
    name : str
        A key of :data:`FOUNDATION_MODELS`.
    ch_names : sequence of str
        Channel names, in input order (each one the model can place).
    n_times : int
        Samples per window (whole patches).
    sfreq : float
        Sampling rate in Hz: the model's native rate.
    n_outputs : int
        Number of classes.

    Raises
    ------
    ConfigError
        Another sampling rate, a window that is not whole patches, or channels the model cannot place.
    """

    head_name = HEAD_NAME

    def __init__(self, name: str, ch_names: Sequence[str], n_times: int, sfreq: float, n_outputs: int):
        super().__init__()
        import braindecode.models

        spec = FOUNDATION_MODELS[name]
        _check_signal(spec, ch_names, int(n_times), float(sfreq))
        self.spec = spec
        self.name = name
        self.head_key = spec.head_key
        self.input_scale = spec.input_scale
        self.ch_names = list(ch_names)
        self.n_times = int(n_times)
        self.sfreq = float(sfreq)
        self.model_class = f"braindecode.models.{spec.class_name}"
        self.model_kwargs: dict[str, Any] = {
            "n_chans": len(self.ch_names),
            "n_times": self.n_times,
            "n_outputs": int(n_outputs),
            "sfreq": self.sfreq,
            **spec.options,
        }
        chs_info = [{"ch_name": ch} for ch in self.ch_names]
        # the braindecode network: its state_dict is what a checkpoint holds
        self.net = getattr(braindecode.models, spec.class_name)(chs_info=chs_info, **self.model_kwargs)
        if spec.make_head is not None:
            self.net.final_layer = spec.make_head(self.net, int(n_outputs))

    @property
    def head(self) -> nn.Module:
        """The linear layer that reads :meth:`features`."""
        return self.net.get_submodule(self.head_key)

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of everything except the head."""
        return (p for n, p in self.net.named_parameters() if not _is_head(n))

    def freeze_backbone(self) -> None:
        """Stop gradients to every parameter outside the head."""
        for p in self.backbone_parameters():
            p.requires_grad_(False)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.input_scale
        return self.spec.normalize(x) if self.spec.normalize is not None else x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What the head reads, ``(batch, n_features)``; input ``(batch, n_chans, n_times)`` in µV."""
        return self.spec.features(self.net, self._input(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape ``(batch, n_outputs)``; input ``(batch, n_chans, n_times)`` in µV."""
        out: torch.Tensor = self.net(self._input(x))
        return out

    def load_backbone(self, weights: str | os.PathLike[str]) -> BackboneInfo:
        """Load pretrained weights into the backbone; the head keeps its fresh weights.

        ``weights`` is what ``pretrained_weights`` accepts (:func:`~.pretrained.locate`).

        Raises
        ------
        PretrainedWeightsError
            Unreadable weights, a backbone tensor of another shape, or under
            :data:`~.pretrained.MIN_MATCHED` of the backbone's tensors matched.
        """
        source = locate(weights)
        usable, report = _match(self.spec, self.net.state_dict(), source, int(self.model_kwargs["n_outputs"]))
        self.net.load_state_dict(usable, strict=False)
        return BackboneInfo.from_report(report)

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> FoundationClassifier:
        """Rebuild from a checkpoint written by the engine (weights loaded)."""
        model = cls(ckpt["model"], ckpt["ch_names"], ckpt["n_times"], ckpt["sfreq"], len(ckpt["class_names"]))
        model.net.load_state_dict(ckpt["model_state_dict"])
        return model


def _is_head(key: str) -> bool:
    return key.startswith(HEAD_NAME + ".")


def _match(
    spec: FoundationSpec, own: Mapping[str, torch.Tensor], source: WeightsSource, n_outputs: int
) -> tuple[dict[str, torch.Tensor], LoadReport]:
    return match_weights(
        own,
        read_weights(source),
        is_head=_is_head,
        source=source.label,
        format=source.format,
        n_outputs=n_outputs,
        cut_to_fit=spec.cut_to_fit,
        derived=spec.derived,
        model_label=f"{spec.class_name}'s backbone",
    )


@functools.lru_cache(maxsize=4)
def _reference_state(name: str) -> dict[str, torch.Tensor]:
    """A state_dict of model ``name`` for a short window of one channel: what a weights file is
    checked against before the data is known (no backbone tensor depends on the window length or,
    but for BIOT's channel tokens, which may be longer in the file, on the channels)."""
    native = native_signal(name)
    with torch.random.fork_rng(devices=[]):
        model = FoundationClassifier(name, ["CZ"], int(native.sfreq), native.sfreq, 2)
    return model.net.state_dict()


def check_foundation_weights(name: str, weights: str | os.PathLike[str]) -> LoadReport:
    """The match of ``weights`` (a local file or snapshot folder; a hub id is fetched) against
    model ``name``'s backbone.

    Raises
    ------
    PretrainedWeightsError
        As :meth:`FoundationClassifier.load_backbone`.
    """
    source = locate(weights)
    st = source.path.stat()
    return _check_weights(name, source, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _check_weights(name: str, source: WeightsSource, mtime_ns: int, size: int) -> LoadReport:
    """:func:`check_foundation_weights` once per version of a file (the panel validates often)."""
    return _match(FOUNDATION_MODELS[name], _reference_state(name), source, 2)[1]


def build_foundation(
    name: str,
    ch_names: Sequence[str],
    n_times: int,
    sfreq: float,
    *,
    n_outputs: int,
    seed: int,
    pretrained_weights: str | None = None,
    freeze_backbone: bool = False,
) -> tuple[FoundationClassifier, BackboneInfo]:
    """Build model ``name`` with seeded weights (the global torch RNG is left as it was), load its
    backbone from ``pretrained_weights`` and freeze it when asked."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FoundationClassifier(name, ch_names, n_times, sfreq, n_outputs)
    info = BackboneInfo("random")
    if pretrained_weights:
        info = model.load_backbone(pretrained_weights)
    if freeze_backbone:
        model.freeze_backbone()
    return model, info
