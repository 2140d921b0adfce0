"""The model registry: every neural network a run can train, built from the data's signal facts.

Each entry is a :class:`ModelSpec` whose builder gets the channel names, window length,
sampling rate and number of classes (all from the :class:`~eegtrain_jupyter.data.windows.Windows`)
and returns an ``nn.Module`` mapping ``(batch, n_chans, n_times)`` microvolts to logits
``(batch, n_outputs)``. The foundation models (LaBraM, CBraMod, EEGPT, BIOT) split into a backbone
and a linear head (:class:`~.foundation.BackboneClassifier`: pretrained weights, a frozen-feature
path); the other braindecode models train end to end. The names are
:data:`~eegtrain_jupyter.config.training.NEURAL_MODELS` (the classical baselines are
:mod:`.classical`'s).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from ..config.training import NEURAL_MODELS, TrainingConfig
from .braindecode_net import BraindecodeClassifier
from .eegconformer import build_eegconformer
from .eegnet import build_eegnet
from .foundation import (
    FOUNDATION_MODELS,
    BackboneClassifier,
    FoundationClassifier,
    build_foundation,
    check_foundation_weights,
)
from .info import BackboneInfo
from .labram import build_classifier as build_labram
from .labram import check_weights_file as check_labram_weights
from .pretrained import HubId, LoadReport, fetch, locate, resolve
from .shallow_fbcsp import build_shallow_fbcsp

__all__ = [
    "BUILD_FIELDS",
    "MODELS",
    "BackboneClassifier",
    "BraindecodeClassifier",
    "ModelBuilder",
    "ModelSpec",
    "build",
    "build_key",
    "check_pretrained",
    "check_weights_file",
    "count_parameters",
    "fetch_pretrained",
    "get",
    "rebuild",
]


class BackboneBuilder(Protocol):
    """Builds a foundation model: seeded, its backbone loaded and frozen when asked."""

    def __call__(
        self,
        ch_names: Sequence[str],
        n_times: int,
        sfreq: float,
        *,
        n_outputs: int,
        seed: int,
        pretrained_weights: str | None = None,
        freeze_backbone: bool = False,
    ) -> tuple[nn.Module, BackboneInfo]: ...


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
    build_backbone : callable
        A :class:`BackboneBuilder` (foundation models only).
    check_weights : callable
        ``check_weights(weights) -> LoadReport``: the match of a local weights file or snapshot
        folder against the model's backbone, before the data is known (foundation models only).
    """

    name: str
    label: str
    has_backbone: bool
    build: Callable[[Sequence[str], int, float, int], nn.Module] | None = None
    build_backbone: BackboneBuilder | None = None
    check_weights: Callable[[str | os.PathLike[str]], LoadReport] | None = None


MODELS: dict[str, ModelSpec] = {
    "labram": ModelSpec(
        "labram", "Labram", True, build_backbone=build_labram, check_weights=check_labram_weights
    ),
    "shallow_fbcsp": ModelSpec("shallow_fbcsp", "ShallowFBCSPNet", False, build_shallow_fbcsp),
    "eegnet": ModelSpec("eegnet", "EEGNet", False, build_eegnet),
    "eegconformer": ModelSpec("eegconformer", "EEGConformer", False, build_eegconformer),
    **{
        name: ModelSpec(
            name,
            spec.label,
            True,
            build_backbone=functools.partial(build_foundation, name),
            check_weights=functools.partial(check_foundation_weights, name),
        )
        for name, spec in FOUNDATION_MODELS.items()
    },
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
    torch RNG is left as it was); a foundation model also loads ``pretrained_weights`` and freezes
    its backbone when asked."""
    spec = get(config.model)
    if spec.build_backbone is not None:
        return spec.build_backbone(
            ch_names,
            n_times,
            sfreq,
            n_outputs=n_outputs,
            seed=config.seed,
            pretrained_weights=config.pretrained_weights,
            freeze_backbone=config.freeze_backbone,
        )
    assert spec.build is not None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = spec.build(ch_names, n_times, sfreq, n_outputs)
    return model, BackboneInfo("random")


def rebuild(checkpoint: dict[str, Any]) -> nn.Module:
    """A CBraMod/EEGPT/BIOT or end-to-end model from its checkpoint (``model``, ``model_kwargs``,
    ``model_state_dict``), in eval mode."""
    model: nn.Module
    if checkpoint["model"] in FOUNDATION_MODELS:
        model = FoundationClassifier.from_checkpoint(checkpoint)
    else:
        model = BraindecodeClassifier.from_checkpoint(checkpoint)
    model.eval()
    return model


def check_weights_file(weights: str | os.PathLike[str], model: str = "labram") -> LoadReport:
    """Refuse, before any run starts, weights that ``model``'s backbone cannot load.

    ``weights`` is a local weights file or snapshot folder (a hub id is fetched first: call this
    where the network may be used); the reference state dict is the chosen model's.

    Raises
    ------
    PretrainedWeightsError
        As the model's ``load_backbone``; a 400 on ``pretrained_weights``.
    ValueError
        ``model`` has no backbone (the config refuses ``pretrained_weights`` for it).
    """
    spec = get(model)
    if spec.check_weights is None:
        raise ValueError(f"model {model} has no pretrained backbone")
    return spec.check_weights(weights)


def check_pretrained(
    value: str,
    resolve_path: Callable[[str], os.PathLike[str]] | None = None,
    model: str = "labram",
    hub_env: Mapping[str, str] | None = None,
) -> str:
    """The ``pretrained_weights`` value a run should record, once checked against ``model``.

    A hub id is resolved with the hub (one request, no download: offline, an unknown repository or
    revision, a repository without weights are refused here) and returned pinned to the commit it
    resolved to, ``hf://OWNER/NAME@<sha>``; weights already in the cache are checked against the
    model now, others when the run's worker has fetched them (:func:`fetch_pretrained`). A local
    file or snapshot folder is resolved with ``resolve_path`` (default: as given), checked, and
    returned as that path. ``hub_env`` holds the ``HF_*`` settings to use (default: this process's).

    Raises
    ------
    PretrainedWeightsError
        A 400 on ``pretrained_weights`` (:func:`check_weights_file`, :func:`~.pretrained.resolve`).
    """
    if HubId.parse(value) is not None:
        hub = resolve(value, env=hub_env)
        if hub.cached:
            check_weights_file(locate(hub.label, env=hub_env).path, model)
        return hub.label
    local = os.fspath(resolve_path(value)) if resolve_path is not None else value
    check_weights_file(local, model)
    return local


FETCH_REPORT_S = 0.5
"""Least seconds between two progress lines of a download (:func:`fetch_pretrained`)."""


def fetch_pretrained(value: str | None, say: Callable[[str], None]) -> None:
    """Download the weights a hub id names into the ``huggingface_hub`` cache before the model is
    built, telling ``say`` how far it got (a run's phase line), e.g. ``fetching pretrained weights
    hf://braindecode/labram-pretrained@<sha>: 12.0 of 23.4 MB``; nothing for a local path or weights
    already cached.

    Raises
    ------
    PretrainedWeightsError
        The download failed (see :func:`~.pretrained.fetch`): nothing is left in the cache.
    """
    ref = HubId.parse(value) if value else None
    if ref is None:
        return
    said = -float("inf")

    def progress(done: int, total: int | None) -> None:
        nonlocal said
        now = time.monotonic()
        if now - said < FETCH_REPORT_S and done != total:
            return
        said = now
        of = f" of {total / 2**20:.1f}" if total else ""
        say(f"fetching pretrained weights {ref}: {done / 2**20:.1f}{of} MB")

    fetch(ref, progress=progress)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(all, trainable)`` parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)
