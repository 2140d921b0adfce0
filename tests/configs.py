"""The small configs every test trains with (real LaBraM; all pinned to the CPU so a GPU
machine runs the same tests and the device assertions hold)."""

from __future__ import annotations

TINY = {"n_epochs": 1, "n_samples_per_class": 100, "batch_size": 32, "device": "cpu"}
"""The smallest valid run: 200 windows, one epoch, frozen backbone."""

QUICK = {**TINY, "n_epochs": 2, "save_dir": "models"}
"""A complete run in seconds: 200 windows, frozen backbone, two epochs, saved under ``models``."""

FINETUNE = {
    **TINY,
    "n_epochs": 20,
    "val_split": 0.5,
    "batch_size": 64,
    "freeze_backbone": False,
    "save_dir": "models",
}
"""A long fine-tuning run (a few seconds per epoch) to stop part-way."""

FINETUNE_TINY = {**TINY, "freeze_backbone": False, "batch_size": 16}
"""One short fine-tuning epoch (10 batches) for stop-within-a-batch tests."""
