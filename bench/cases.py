"""The measurements: each candidate and its baseline, as plain functions returning numbers.

Everything here is timed with ``time.perf_counter`` on the same data, model seed, batch size
and optimizer settings as the candidate, so that only the loop around the model differs.
"""

from __future__ import annotations

import math
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn

from eegtrain_jupyter.config.training import TrainingConfig, parse_config
from eegtrain_jupyter.data import synthetic
from eegtrain_jupyter.data.windows import stratified_split
from eegtrain_jupyter.engine import training as engine
from eegtrain_jupyter.engine.artifacts import SYNTHETIC_CHECKPOINT_NAME
from eegtrain_jupyter.engine.events import TrainingListener
from eegtrain_jupyter.models.labram import build_classifier, load_checkpoint

__all__ = [
    "finetune_bare",
    "finetune_engine",
    "finetune_setup",
    "finetune_skorch",
    "fresh_accuracy",
    "median",
    "time_forward_all",
    "time_frozen_train",
    "time_generate",
    "time_naive_epochs",
    "train_with_accuracy",
]

FRESH_SEED_OFFSET = 1000
"""Fresh data for accuracy checks: ``synthetic.generate(n, seed=config.seed + FRESH_SEED_OFFSET)``."""


def _model(data, seed: int, freeze: bool = False):
    model, _ = build_classifier(
        data.ch_names, data.X.shape[-1], data.sfreq, seed=seed, freeze_backbone=freeze
    )
    return model


def time_generate(n_per_class: int, seed: int = 42) -> float:
    """Seconds for ``synthetic.generate(n_per_class)``."""
    t0 = time.perf_counter()
    synthetic.generate(n_per_class, seed=seed)
    return time.perf_counter() - t0


def _data(config: TrainingConfig, n_per_class: int | None):
    return synthetic.generate(n_per_class or config.n_samples_per_class, seed=config.seed)


def time_forward_all(config: TrainingConfig, n_per_class: int | None = None) -> float:
    """Baseline 1: one no-grad backbone forward over every window (the engine's batch size), seconds."""
    data = _data(config, n_per_class)
    model = _model(data, config.seed, freeze=True).eval()
    X = torch.from_numpy(data.X)
    bs = engine.inference_batch_size(config, torch.device("cpu"))  # as the engine's feature pass
    t0 = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(X), bs):
            model.features(X[start : start + bs])
    return time.perf_counter() - t0


def time_frozen_train(config: TrainingConfig, n_per_class: int | None = None) -> float:
    """Candidate 1/2/8: wall seconds of ``engine.train`` (data generation and file writes included).

    ``n_per_class`` (quick mode) passes smaller data than the config allows, generated in the timing.
    """
    return train_with_accuracy(config, n_per_class)["seconds"]


def train_with_accuracy(
    config: TrainingConfig, n_per_class: int | None = None, fresh_per_class: int = 0
) -> dict:
    """Timed ``engine.train`` (as :func:`time_frozen_train`), then, untimed, its accuracies.

    Returns ``{"seconds", "precision", "precision_reason", "val_acc", "fresh_acc"}``: ``val_acc``
    is the best validation accuracy (%, the checkpoint's epoch); ``fresh_acc`` (None when
    ``fresh_per_class`` is 0) is that checkpoint's accuracy on ``2 * fresh_per_class`` newly
    generated windows (another seed), computed in the run's precision.
    """
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        data = synthetic.generate(n_per_class or config.n_samples_per_class, seed=config.seed)
        result = engine.train(config, data, Path(out))
        seconds = time.perf_counter() - t0
        fresh = (
            fresh_accuracy(
                Path(out) / SYNTHETIC_CHECKPOINT_NAME,
                result.precision,
                fresh_per_class,
                config.seed + FRESH_SEED_OFFSET,
                config.batch_size,
            )
            if fresh_per_class
            else None
        )
    return {
        "seconds": seconds,
        "precision": result.precision,
        "precision_reason": result.precision_reason,
        "val_acc": result.best_val_acc,
        "fresh_acc": fresh,
    }


def fresh_accuracy(
    checkpoint: Path, precision: str, n_per_class: int, seed: int, batch_size: int = 32
) -> float:
    """Accuracy (%) of a saved model on ``2 * n_per_class`` fresh windows, under ``precision``'s autocast."""
    model, _ = load_checkpoint(checkpoint)
    data = synthetic.generate(n_per_class, seed=seed)
    X = torch.from_numpy(data.X)
    cast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
    correct = 0
    with torch.inference_mode(), cast:
        for start in range(0, len(X), batch_size):
            pred = model(X[start : start + batch_size]).argmax(1).numpy()
            correct += int((pred == data.y[start : start + batch_size]).sum())
    return 100.0 * correct / len(X)


def time_naive_epochs(config: TrainingConfig, n_epochs: int = 1, n_per_class: int | None = None) -> float:
    """Baseline 2: the original loop, frozen backbone run on every batch of every epoch.

    Returns seconds per epoch (train + validation), measured over ``n_epochs`` epochs.
    """
    data = _data(config, n_per_class)
    tr, va = stratified_split(data.y, config.val_split, config.seed)
    model = _model(data, config.seed, freeze=True)
    X, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
    tr, va = torch.from_numpy(tr), torch.from_numpy(va)
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    for _ in range(n_epochs):
        model.train()
        for idx in tr[torch.randperm(len(tr))].split(config.batch_size):
            loss = loss_fn(model(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            for idx in va.split(config.batch_size):
                loss_fn(model(X[idx]), y[idx])
    return (time.perf_counter() - t0) / n_epochs


# -- fine-tune throughput: a fixed number of steps after warm-up -----------------------


def finetune_setup(n_per_class: int, batch_size: int = 32, seed: int = 42):
    """The fine-tune preset in bf16 (opt-in on CPU), 1 epoch on ``2 * n_per_class`` windows; and that data.

    Split as the baselines split (by window, ``val_split`` held out, no test split), so every side
    has the same training batches (the default subject-wise split with a test split leaves 19
    batches of 32 from 2x500 windows, fewer than warm-up + steps)."""
    config = parse_config(
        {
            "n_epochs": 1,
            "seed": seed,
            "device": "cpu",
            "batch_size": batch_size,
            "precision": "bf16",
            "split_by": "window",
            "test_split": 0.0,
        },
        preset="fine-tune",
    )
    return config, synthetic.generate(n_per_class, seed=seed)


def _rate(stamps: list[float], warmup: int, steps: int, batch_size: int) -> float:
    """Samples/s between the end of batch ``warmup`` and the end of batch ``warmup + steps``."""
    if len(stamps) < warmup + steps:
        raise RuntimeError(f"only {len(stamps)} batches ran; need {warmup + steps}")
    return steps * batch_size / (stamps[warmup + steps - 1] - stamps[warmup - 1])


def finetune_engine(config: TrainingConfig, data, warmup: int, steps: int) -> float:
    """Candidate 3/4: ``engine.train`` fine-tuning (``config.precision``): samples/s over ``steps`` batches."""
    stamps: list[float] = []

    class Clock(TrainingListener):
        def on_batch(self, *, epoch, batch, n_batches, phase, **running):
            if phase == "train":
                stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out:
        engine.train(
            config, data, Path(out), listeners=[Clock()], should_stop=lambda: len(stamps) >= warmup + steps
        )
    return _rate(stamps, warmup, steps, config.batch_size)


def finetune_bare(config: TrainingConfig, data, warmup: int, steps: int) -> float:
    """Baseline 3: the textbook PyTorch loop (same model, data, batch size and AdamW), samples/s."""
    tr, _ = stratified_split(data.y, config.val_split, config.seed)
    model = _model(data, config.seed)
    X, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
    opt = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    stamps = []
    order = torch.from_numpy(tr)[torch.randperm(len(tr))]
    for idx in order.split(config.batch_size)[: warmup + steps]:
        loss = loss_fn(model(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        stamps.append(time.perf_counter())
    return _rate(stamps, warmup, steps, config.batch_size)


def finetune_skorch(config: TrainingConfig, data, warmup: int, steps: int) -> float:
    """Baseline 4: ``braindecode.EEGClassifier.fit`` (skorch) on the same data, samples/s."""
    import warnings

    from braindecode import EEGClassifier
    from skorch.callbacks import Callback

    tr, _ = stratified_split(data.y, config.val_split, config.seed)
    n = min(len(tr), (warmup + steps + 1) * config.batch_size)
    stamps: list[float] = []

    class Clock(Callback):
        def on_batch_end(self, net, batch=None, training=None, **kwargs):
            if training:
                stamps.append(time.perf_counter())
                if len(stamps) >= warmup + steps:
                    raise KeyboardInterrupt  # skorch ends fit() cleanly on this

    clf = EEGClassifier(
        module=_model(data, config.seed),
        optimizer=torch.optim.AdamW,
        lr=config.learning_rate,
        optimizer__weight_decay=config.weight_decay,
        batch_size=config.batch_size,
        max_epochs=1,
        train_split=None,
        callbacks=[("clock", Clock())],
        device="cpu",
        verbose=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(data.X[tr[:n]], data.y[tr[:n]])
    return _rate(stamps, warmup, steps, config.batch_size)


def median(values) -> float:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.median(values)) if values else float("nan")
