"""The fine-tuning recipe: layer-wise learning-rate decay, warmup + cosine, label smoothing,
augmentation of training batches."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch.nn.modules.module import register_module_forward_pre_hook

from eegtrain_jupyter.config.training import AUGMENTATIONS, parse_config, validate_config
from eegtrain_jupyter.data.splits import split_windows
from eegtrain_jupyter.data.synthetic import CH_NAMES, generate
from eegtrain_jupyter.engine.augmentation import Augmenter
from eegtrain_jupyter.engine.recipe import make_optimizer, make_schedule
from eegtrain_jupyter.engine.training import train
from eegtrain_jupyter.models.labram import LabramClassifier, build_classifier


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


def test_augmenter_is_seeded_and_changes_windows():
    X = torch.from_numpy(generate(100, seed=1).X[:32])
    flip = Augmenter(["sign_flip"], 1.0, 200.0, 1.0, seed=0)
    assert torch.equal(flip(X), -X)  # probability 1: every window
    every = list(AUGMENTATIONS)
    a, b = (Augmenter(every, 0.5, 200.0, float(X.std()), seed=3) for _ in range(2))
    out = a(X)
    assert torch.equal(out, b(X))  # same seed, same draws
    assert not torch.equal(out, Augmenter(every, 0.5, 200.0, float(X.std()), seed=3, rank=1)(X))
    assert out.shape == X.shape and out.dtype == X.dtype and torch.isfinite(out).all()
    assert torch.equal(Augmenter(every, 0.0, 200.0, 1.0, seed=3)(X), X)  # probability 0: none


def test_augmentation_is_validated():
    fields = lambda data: {e.field: e.message for e in validate_config(data).errors}  # noqa: E731
    assert "freeze_backbone: false" in fields({"augmentation": ["sign_flip"]})["augmentation"]
    ft = {"freeze_backbone": False}
    assert "augmentation.1" in fields({**ft, "augmentation": ["sign_flip", "flip"]})
    assert "more than once" in fields({**ft, "augmentation": ["sign_flip", "sign_flip"]})["augmentation"]
    assert set(fields({**ft, "augmentation": "sign_flip"})) == {"augmentation"}  # a list, not text
    assert set(fields({**ft, "augmentation_p": 1.01})) == {"augmentation_p"}
    assert parse_config({"model": "eegnet", "augmentation": ["ft_surrogate"]}).augmentation == [
        "ft_surrogate"
    ]
    assert parse_config().augmentation == []  # off by default


def _rows(X: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in np.ascontiguousarray(X, dtype=np.float32)}


@pytest.mark.slow
def test_augmentation_changes_training_batches_only(tmp_path, tiny):
    """A real fine-tuning run with every augmentation: each batch LaBraM sees in training mode
    holds windows that are not in the data, every validation and test batch is the data as is."""
    data = generate(100, seed=1)
    known = _rows(data.X)
    seen: list[tuple[bool, np.ndarray]] = []

    def record(module, args):
        if isinstance(module, LabramClassifier):
            seen.append((module.training, args[0].detach().cpu().numpy().copy()))

    config = parse_config(
        {**tiny, "freeze_backbone": False, "batch_size": 16, "augmentation": list(AUGMENTATIONS)}
    )
    hook = register_module_forward_pre_hook(record)
    try:
        result = train(config, data, tmp_path)
    finally:
        hook.remove()
    assert result.test_report is not None and math.isfinite(result.history["train_losses"][0])
    split = split_windows(data, val_split=0.2, test_split=0.2, split_by="auto", seed=config.seed)
    train_batches = [x for training, x in seen if training]
    eval_batches = [x for training, x in seen if not training]
    assert len(train_batches) == math.ceil(len(split.train) / 16)
    changed = [len(_rows(x) - known) for x in train_batches]
    assert sum(changed) > 0.5 * sum(len(x) for x in train_batches), changed  # p 0.5 each, 7 transforms
    assert all(_rows(x) <= known for x in eval_batches)
    assert sum(len(x) for x in eval_batches) == len(split.val) + len(split.test)
