"""The model registry: every neural network a run can train, built from the data's signal facts.

Each entry is a :class:`ModelSpec` whose ``build`` gets the channel names, window length,
sampling rate and number of classes (all from the :class:`~eegtrain_jupyter.data.windows.Windows`)
and returns an ``nn.Module`` mapping ``(batch, n_chans, n_times)`` microvolts to logits
``(batch, n_outputs)``. Only LaBraM has a backbone/head split (and so a frozen-feature path);
the braindecode models train end to end. The names are :data:`~eegtrain_jupyter.config.training.NEURAL_MODELS`
(the classical baselines are :mod:`.classical`'s).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..config.training import NEURAL_MODELS, TrainingConfig
from .braindecode_net import BraindecodeClassifier
from .eegconformer import build_eegconformer
from .eegnet import build_eegnet
from .info import BackboneInfo
from .labram import build_classifier as build_labram
from .shallow_fbcsp import build_shallow_fbcsp

__all__ = [
    "BUILD_FIELDS",
    "MODELS",
    "BraindecodeClassifier",
    "ModelBuilder",
    "ModelSpec",
    "build",
    "build_key",
    "count_parameters",
    "get",
]


@dataclass(frozen=True)
class ModelSpec:
    """One trainable classifier.

    Attributes
    ----------
    name : str
        The config's ``model`` value.
    label : str
        Human name (the braindecode class).
    has_backbone : bool
        Whether the model splits into a backbone and a head (``features``/``head``), so that
        ``freeze_backbone`` trains the head on cached features.
    build : callable
        ``build(ch_names, n_times, sfreq, n_outputs) -> nn.Module`` (end-to-end models only).
    """

    name: str
    label: str
    has_backbone: bool
    build: Callable[[Sequence[str], int, float, int], nn.Module] | None = None


MODELS: dict[str, ModelSpec] = {
    "labram": ModelSpec("labram", "Labram", True),
    "shallow_fbcsp": ModelSpec("shallow_fbcsp", "ShallowFBCSPNet", False, build_shallow_fbcsp),
    "eegnet": ModelSpec("eegnet", "EEGNet", False, build_eegnet),
    "eegconformer": ModelSpec("eegconformer", "EEGConformer", False, build_eegconformer),
}
assert tuple(MODELS) == NEURAL_MODELS, "the registry and the config's neural model names must agree"


def get(name: str) -> ModelSpec:
    """The spec of model ``name`` (one of :data:`MODELS`)."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}") from None


BUILD_FIELDS = ("model", "seed", "pretrained_weights", "freeze_backbone")
"""The config fields :func:`build` reads: two configs that agree on them (and on the data's signal
facts) build the same model with the same weights."""

ModelBuilder = Callable[[TrainingConfig, Sequence[str], int, float, int], tuple[nn.Module, BackboneInfo]]
"""The signature of :func:`build` (the engine takes one; a worker may hand in a memoised one)."""


def build_key(
    config: TrainingConfig, ch_names: Sequence[str], n_times: int, sfreq: float, n_outputs: int
) -> tuple[Any, ...]:
    """What :func:`build`'s result depends on: :data:`BUILD_FIELDS` and the data's signal facts."""
    return (*(getattr(config, name) for name in BUILD_FIELDS), tuple(ch_names), n_times, sfreq, n_outputs)


def build(
    config: TrainingConfig, ch_names: Sequence[str], n_times: int, sfreq: float, n_outputs: int
) -> tuple[nn.Module, BackboneInfo]:
    """Build ``config.model`` for this data with weights seeded by ``config.seed`` (the global
    torch RNG is left as it was); LaBraM also loads ``pretrained_weights`` and freezes its backbone
    when asked."""
    spec = get(config.model)
    if spec.build is None:
        return build_labram(
            ch_names,
            n_times,
            sfreq,
            n_outputs=n_outputs,
            seed=config.seed,
            pretrained_weights=config.pretrained_weights,
            freeze_backbone=config.freeze_backbone,
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = spec.build(ch_names, n_times, sfreq, n_outputs)
    return model, BackboneInfo("random")


def rebuild(checkpoint: dict[str, Any]) -> nn.Module:
    """An end-to-end model from its checkpoint (``model``, ``model_kwargs``, ``model_state_dict``)."""
    model = BraindecodeClassifier.from_checkpoint(checkpoint)
    model.eval()
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(all, trainable)`` parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)
