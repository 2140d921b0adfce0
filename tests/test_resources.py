"""The pre-flight memory estimate is each model's own: its parameters and its activations, measured
here against the built networks (no torch in the estimate itself: the server runs it)."""

from __future__ import annotations

import pytest
import torch

from eegtrain_jupyter.config.data import CH_NAMES, N_TIMES, SFREQ
from eegtrain_jupyter.config.names import (
    BACKBONE_MODELS,
    CLASSICAL_MODELS,
    MODEL_FOOTPRINT,
    MODEL_NAMES,
    NEURAL_MODELS,
    native_signal,
)
from eegtrain_jupyter.config.training import parse_config
from eegtrain_jupyter.models import registry
from eegtrain_jupyter.runtime.resources import estimate_memory_mb

RSS_PER_SAVED = 10.0 / 7.35
"""LaBraM's measured peak RSS growth per window over the tensors autograd saves for it."""


@pytest.mark.parametrize("name", NEURAL_MODELS)
def test_each_models_footprint_is_its_own_network(name):
    """Parameters within 2 % of the built network's; activations within 25 % of what autograd saves
    per window of the synthetic shape (8 channels, 4 s at the model's rate): a batch of 4 less a
    batch of 2, so the weights it saves once per batch drop out."""
    native = native_signal(name)
    n_times = round(N_TIMES / SFREQ * native.sfreq)
    cfg = parse_config({"model": name, **({"freeze_backbone": False} if name in BACKBONE_MODELS else {})})
    model, _ = registry.build(cfg, list(CH_NAMES), n_times, native.sfreq, 2)
    footprint = MODEL_FOOTPRINT[name]
    n_parameters, _ = registry.count_parameters(model)
    assert footprint.parameters == pytest.approx(n_parameters, rel=0.02)
    model.train()

    def saved_bytes(batch: int) -> int:
        saved = 0

        def pack(t: torch.Tensor) -> torch.Tensor:
            nonlocal saved
            saved += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(torch.randn(batch, len(CH_NAMES), n_times) * 20)
        return saved

    per_window = (saved_bytes(4) - saved_bytes(2)) / 2 / 2**20
    assert footprint.activation_mb == pytest.approx(per_window * RSS_PER_SAVED, rel=0.25)


def test_the_estimate_follows_the_model():
    def need(model: str, **fields) -> float:
        return estimate_memory_mb(parse_config({"model": model, "batch_size": 32, **fields}))

    assert set(MODEL_FOOTPRINT) == set(MODEL_NAMES)
    tuned = {name: need(name, freeze_backbone=False) for name in BACKBONE_MODELS}
    # EEGPT (25 M parameters, 128 tokens of 512 per window) needs several times LaBraM's
    assert tuned["eegpt"] > 4 * tuned["labram"] > 4 * tuned["biot"]
    assert len(set(tuned.values())) == len(tuned)
    for name in BACKBONE_MODELS:  # a frozen backbone: no gradients, no optimizer state
        assert need(name, freeze_backbone=True) < tuned[name]
    assert need("eegnet") < tuned["labram"]
    assert all(need(name) < need("eegnet") for name in CLASSICAL_MODELS)  # data only
    # more windows, more memory: EEGPT's windows hold 256 Hz samples, LaBraM's 200 Hz
    extra = {name: need(name, n_samples_per_class=2000) - need(name) for name in ("labram", "eegpt")}
    assert extra["eegpt"] == pytest.approx(extra["labram"] * 256 / 200)
