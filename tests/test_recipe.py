"""The fine-tuning recipe: layer-wise learning-rate decay, warmup + cosine, label smoothing."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from eegtrain_jupyter.config import parse_config
from eegtrain_jupyter.engine import train
from eegtrain_jupyter.model import build_classifier
from eegtrain_jupyter.recipe import make_optimizer, make_schedule
from eegtrain_jupyter.synthetic import CH_NAMES, generate


def test_layer_decay_gives_deeper_blocks_larger_rates():
    model, _ = build_classifier(CH_NAMES, 800, 200.0, seed=0, freeze_backbone=False)
    config = parse_config({"learning_rate": 0.001, "layer_decay": 0.5, "freeze_backbone": False})
    opt = make_optimizer(model, config, torch.device("cpu"))
    rate = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert rate[id(named["labram.final_layer.weight"])] == pytest.approx(0.001)
    assert rate[id(named["labram.blocks.11.mlp.0.weight"])] == pytest.approx(0.001 * 0.5)
    assert rate[id(named["labram.blocks.0.mlp.0.weight"])] == pytest.approx(0.001 * 0.5**12)
    assert rate[id(named["labram.cls_token"])] == pytest.approx(0.001 * 0.5**13)
    assert len(rate) == sum(1 for p in model.parameters() if p.requires_grad)
    flat = make_optimizer(model, parse_config({"freeze_backbone": False}), torch.device("cpu"))
    assert len(flat.param_groups) == 1


def test_warmup_then_cosine_to_zero():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    config = parse_config({"n_epochs": 4, "lr_schedule": "warmup_cosine", "warmup_epochs": 1})
    schedule = make_schedule(opt, config, steps_per_epoch=10)
    rates = []
    for _ in range(40):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)  # linear warmup
    assert all(a >= b for a, b in itertools.pairwise(rates[9:]))  # then only down
    assert rates[-1] < 0.01 and math.isclose(rates[24], 0.5 * (1 + math.cos(math.pi * 14 / 30)))
    assert make_schedule(opt, parse_config({}), 10) is None


@pytest.mark.slow
def test_recipe_trains(tmp_path, tiny):
    config = parse_config(
        {
            **tiny,
            "n_epochs": 2,
            "lr_schedule": "warmup_cosine",
            "label_smoothing": 0.1,
            "class_weight": "balanced",
            "early_stopping_patience": 1,
        }
    )
    result = train(config, generate(100, seed=1), tmp_path)
    assert result.epochs_completed >= 1 and result.test_report is not None
    assert all(math.isfinite(v) for v in result.history["train_losses"])
