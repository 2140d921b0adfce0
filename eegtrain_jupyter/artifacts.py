"""Output files, always written atomically (temp file in the same folder + ``os.replace``).

A reader (or a crash) never sees a half-written checkpoint, history or PNG.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

__all__ = [
    "CHECKPOINT_NAME",
    "HISTORY_NAME",
    "CURVES_NAME",
    "OUTPUT_NAMES",
    "atomic_path",
    "write_json",
    "read_json",
    "save_checkpoint",
    "save_curves",
    "copy_atomic",
]

CHECKPOINT_NAME = "best_synthetic_model.pth"
HISTORY_NAME = "training_history.json"
CURVES_NAME = "training_curves.png"
OUTPUT_NAMES = (CHECKPOINT_NAME, HISTORY_NAME, CURVES_NAME)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success, fsync it and ``os.replace`` it in."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _write_with(path: str | os.PathLike, mode: str, writer: Callable[[IO], None]) -> Path:
    with atomic_path(path) as tmp, open(tmp, mode) as fh:
        writer(fh)
    return Path(path)


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    return _write_with(path, "w", lambda fh: json.dump(data, fh, indent=2, allow_nan=False))


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as fh:
        return json.load(fh)


def save_checkpoint(path: str | os.PathLike, checkpoint: dict[str, Any]) -> Path:
    """``torch.save`` a checkpoint dict, atomically."""
    import torch

    return _write_with(path, "wb", lambda fh: torch.save(checkpoint, fh))


def copy_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy ``src`` over ``dst`` so that ``dst`` is replaced in one step."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)


def save_curves(path: str | os.PathLike, history: dict[str, list[float]], title: str = "") -> Path:
    """Plot loss and accuracy per epoch to a PNG (matplotlib's Agg backend, no display)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = range(1, len(history["train_losses"]) + 1)
    for ax, key, label in ((ax_loss, "losses", "Loss"), (ax_acc, "accs", "Accuracy (%)")):
        ax.plot(epochs, history[f"train_{key}"], "o-", label="train")
        ax.plot(epochs, history[f"val_{key}"], "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _write_with(path, "wb", lambda fh: fig.savefig(fh, format="png", dpi=100))
