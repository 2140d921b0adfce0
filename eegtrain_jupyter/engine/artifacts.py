"""Output files, always written atomically, and the listener that writes a run's outputs.

Every write goes to a temp file in the same folder (named after the writing process, so
recovery can tell a dead writer's leftovers from a live one's), is fsynced, replaces the
target with ``os.replace``, and the folder is fsynced too. Files get the umask's mode, like
any other file the user creates. A reader (or a crash) never sees a half-written checkpoint,
history or PNG. A run's writes during training (``sync_dir=False``) leave the folder's fsync to
the run's end: after a power loss mid-run a file may be the previous version, never a half one.

:class:`ArtifactWriter` is a :class:`~eegtrain_jupyter.engine.events.TrainingListener`: the history
after every epoch; the checkpoint on each new best (a search trial's writer, ``light``: at most
once per ``CHECKPOINT_MIN_INTERVAL`` seconds from its start, and at its end);
the curves PNG throttled to one per ``CURVES_MIN_INTERVAL`` seconds (counted from the writer's
start) and always at the run's end. (A fine-tuning epoch takes far longer than either interval,
so there every best is written; head epochs on cached features take milliseconds.)
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..files import fsync_dir, read_json, write_json, write_with
from .events import EpochResult, TrainingListener, TrainingResult

if TYPE_CHECKING:
    from ..config.training import TrainingConfig
    from ..data.windows import Windows

__all__ = [
    "CHECKPOINT_MIN_INTERVAL",
    "CHECKPOINT_NAME",
    "CHECKPOINT_NAMES",
    "CURVES_MIN_INTERVAL",
    "CURVES_NAME",
    "HISTORY_NAME",
    "OUTPUT_NAMES",
    "SYNTHETIC_CHECKPOINT_NAME",
    "ArtifactWriter",
    "checkpoint_facts",
    "checkpoint_name",
    "curves_from_history",
    "curves_title",
    "find_checkpoint",
    "output_files",
    "output_names",
    "save_checkpoint",
    "save_curves",
]

CHECKPOINT_NAME = "best_model.pth"
"""The best checkpoint of a run on recordings (a ``files`` or ``epochs`` source)."""
SYNTHETIC_CHECKPOINT_NAME = "best_synthetic_model.pth"
"""The best checkpoint of a run on the built-in synthetic data."""
CHECKPOINT_NAMES = (CHECKPOINT_NAME, SYNTHETIC_CHECKPOINT_NAME)
"""Every name a checkpoint has (:func:`find_checkpoint` looks for each)."""
HISTORY_NAME = "training_history.json"
CURVES_NAME = "training_curves.png"
OUTPUT_NAMES = (*CHECKPOINT_NAMES, HISTORY_NAME, CURVES_NAME)
"""Every name a run's output file may have (a run writes one of the checkpoint names:
:func:`output_names`)."""

CHECKPOINT_MIN_INTERVAL = 2.0
"""Seconds between two writes of the best checkpoint by a ``light`` writer (a search's trial),
counted from its start: a LaBraM checkpoint is ~23 MB, ~25 ms to write and fsync, more than a
trial's head epochs, so a trial shorter than this writes it once, at its end (with the test
report when there is one). A plain run writes every new best at once."""

CURVES_MIN_INTERVAL = 2.0
"""Seconds between curve-PNG writes, the first counted from the writer's start (one PNG costs
0.1-0.5 s on CPU; head epochs on cached features take milliseconds). The run's end always writes
it: after the test report when there is one, else after the last (or a stopped run's) epoch. A
run shorter than this (a search trial on cached features) writes it once."""


def checkpoint_name(config: TrainingConfig | dict[str, Any]) -> str:
    """The checkpoint's file name for a run of ``config``: :data:`SYNTHETIC_CHECKPOINT_NAME` on the
    synthetic data, else :data:`CHECKPOINT_NAME`."""
    if isinstance(config, dict):
        source = (config.get("data") or {}).get("source", "synthetic")
    else:
        source = config.data.source
    return SYNTHETIC_CHECKPOINT_NAME if source == "synthetic" else CHECKPOINT_NAME


def output_names(config: TrainingConfig | dict[str, Any]) -> tuple[str, str, str]:
    """The checkpoint's, history's and curves' file names of a run of ``config``."""
    return checkpoint_name(config), HISTORY_NAME, CURVES_NAME


def find_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The checkpoint file in ``folder`` under either name; the newer when both are there (a
    ``save_dir`` that published a synthetic run and later one on recordings); None when neither."""
    found = [Path(folder) / name for name in CHECKPOINT_NAMES]
    found = [path for path in found if path.is_file()]
    if len(found) > 1:
        found.sort(key=lambda path: path.stat().st_mtime_ns)
    return found[-1] if found else None


def output_files(folder: str | os.PathLike) -> dict[str, str]:
    """The run outputs ``folder`` holds by kind (``checkpoint``, ``history``, ``curves``; a run's
    ``files``), as paths."""
    out = {}
    checkpoint = find_checkpoint(folder)
    if checkpoint is not None:
        out["checkpoint"] = str(checkpoint)
    for kind, name in (("history", HISTORY_NAME), ("curves", CURVES_NAME)):
        if (Path(folder) / name).exists():
            out[kind] = str(Path(folder) / name)
    return out


def checkpoint_facts(
    config: TrainingConfig, data: Windows, result: EpochResult, history: dict[str, list[float]]
) -> dict[str, Any]:
    """What every checkpoint says beside its model (a network's state dict, a baseline's
    pipeline): the config, the windows' signal facts and preprocessing, the epoch it holds, that
    epoch's metrics and the history so far."""
    return {
        "config": config.model_dump(),
        "ch_names": list(data.ch_names),
        "sfreq": float(data.sfreq),
        "n_times": data.n_times,
        "class_names": list(data.class_names),
        "preprocessing": data.prep().model_dump(),
        "epoch": result.epoch,
        "metrics": {
            "train_loss": result.train_loss,
            "train_acc": result.train_acc,
            "val_loss": result.val_loss,
            "val_acc": result.val_acc,
        },
        "history": {k: list(v) for k, v in history.items()},
    }


def save_checkpoint(path: str | os.PathLike, checkpoint: dict[str, Any], *, sync_dir: bool = True) -> Path:
    """``torch.save`` a checkpoint dict, atomically."""
    import torch

    return write_with(path, "wb", lambda fh: torch.save(checkpoint, fh), sync_dir)


def save_curves(
    path: str | os.PathLike,
    history: dict[str, list[float]],
    title: str = "",
    test_report: dict[str, Any] | None = None,
    *,
    sync_dir: bool = True,
) -> Path:
    """Plot loss and accuracy per epoch to a PNG (matplotlib's Agg backend, no display); with a
    ``test_report``, a third panel shows the test split's confusion matrix."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15 if test_report else 10, 4), layout="constrained")
    axes = fig.subplots(1, 3 if test_report else 2)
    ax_loss, ax_acc = axes[0], axes[1]
    if test_report:
        _confusion(axes[2], test_report)
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
    return write_with(path, "wb", lambda fh: fig.savefig(fh, format="png", dpi=100), sync_dir)


def curves_title(config: dict[str, Any]) -> str:
    """The curves PNG's title: the model and, for LaBraM, whether its backbone was frozen."""
    name = config.get("model", "labram")
    if name != "labram":
        return name
    return f"LaBraM, {'frozen' if config.get('freeze_backbone') else 'fine-tuned'} backbone"


def curves_from_history(output_dir: str | os.PathLike) -> Path | None:
    """Draw ``training_curves.png`` from the folder's ``training_history.json`` (its config and test
    report included); None when there is no history with an epoch in it."""
    try:
        doc = read_json(Path(output_dir) / HISTORY_NAME)
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not doc.get("train_losses"):
        return None
    return save_curves(
        Path(output_dir) / CURVES_NAME,
        doc,
        title=curves_title(doc.get("config") or {}),
        test_report=doc.get("test_report"),
    )


def _confusion(ax: Any, report: dict[str, Any]) -> None:
    """The test split's confusion matrix (rows: true class) with counts in the cells."""
    import numpy as np

    cm = np.asarray(report["confusion_matrix"])
    names = report["class_names"]
    ax.imshow(cm, cmap="Blues")
    for (i, j), n in np.ndenumerate(cm):
        ax.text(j, i, str(n), ha="center", va="center", color="white" if n > cm.max() / 2 else "black")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(
        f"test: accuracy {report['accuracy']:.1f}%, balanced {report['balanced_accuracy']:.1f}%", fontsize=10
    )


class ArtifactWriter(TrainingListener):
    """Writes a run's outputs into ``output_dir`` as the engine reports them.

    Parameters
    ----------
    output_dir : path
        Folder for the checkpoint (:func:`checkpoint_name`: ``best_model.pth``, or
        ``best_synthetic_model.pth`` on synthetic data), ``training_history.json`` and
        ``training_curves.png``.
    config : TrainingConfig
        Recorded in the history file; titles the curves.
    curves_interval : float
        Least seconds between two curve PNGs, the first counted from here (the run's end always
        writes one, see ``CURVES_MIN_INTERVAL``).
    light : bool
        A search trial's outputs: no curves PNG (:func:`curves_from_history` draws it on request)
        and the checkpoint interval counted from the start (no checkpoint before it has passed).
    checkpoint_interval : float, optional
        Least seconds between two writes of the best checkpoint; default ``CHECKPOINT_MIN_INTERVAL``
        for a light writer, else 0 (every new best).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        config: TrainingConfig,
        curves_interval: float = CURVES_MIN_INTERVAL,
        *,
        light: bool = False,
        checkpoint_interval: float | None = None,
    ):
        self.output_dir = Path(output_dir)
        self.config = config
        self.curves_interval = curves_interval
        self.curves = not light
        if checkpoint_interval is None:
            checkpoint_interval = CHECKPOINT_MIN_INTERVAL if light else 0.0
        self.checkpoint_interval = checkpoint_interval
        self._checkpoint_at = time.perf_counter() if light else -float("inf")
        self._checkpoint_pending = False
        self.files: dict[str, str] = {}
        self.history: dict[str, list[float]] = {}
        self._best: tuple[float, int] | None = None
        self._curves_at = time.perf_counter()  # the first PNG is throttled too
        self._curves_epoch = 0
        self._epochs = 0
        self._checkpoint: dict[str, Any] | None = None
        self._history_doc: dict[str, Any] | None = None
        self._config_doc = config.model_dump()
        self._test_report: dict[str, Any] | None = None

    def on_test(self, report: dict[str, Any]) -> None:
        """The test report joins the best checkpoint and the history file."""
        if self._checkpoint is not None:
            self._checkpoint["test_report"] = report
            self._save_checkpoint()
        self._test_report = report
        if self._history_doc is not None:
            self._history_doc["test_report"] = report
            self._write_history()
        if self._epochs:
            self._write_curves()

    def on_best(self, result: EpochResult, checkpoint: dict[str, Any]) -> None:
        self._best = (result.val_acc, result.epoch)
        self._checkpoint = checkpoint  # a snapshot (the engine's): safe to write later
        if time.perf_counter() - self._checkpoint_at >= self.checkpoint_interval:
            self._save_checkpoint()
        else:
            self._checkpoint_pending = True

    def _save_checkpoint(self) -> None:
        assert self._checkpoint is not None
        path = save_checkpoint(
            self.output_dir / checkpoint_name(self.config), self._checkpoint, sync_dir=False
        )
        self.files["checkpoint"] = str(path)
        self._checkpoint_at, self._checkpoint_pending = time.perf_counter(), False

    def on_epoch_end(self, result: EpochResult, history: dict[str, list[float]]) -> None:
        self.history, self._epochs = history, result.epoch
        best_acc, best_epoch = self._best or (None, None)
        doc = {
            **history,
            "best_val_acc": best_acc,
            "best_epoch": best_epoch,
            "epochs_completed": result.epoch,
            "config": self._config_doc,
        }
        self._history_doc = doc
        self._write_history()
        if time.perf_counter() - self._curves_at >= self.curves_interval:
            self._write_curves()

    def on_end(self, result: TrainingResult) -> None:
        if self._checkpoint_pending:
            self._save_checkpoint()
        if self._epochs and self._curves_epoch != self._epochs:  # the last epoch, unless on_test drew it
            self._write_curves()
        if self.files:
            fsync_dir(self.output_dir)  # every rename above is durable from here
        result.files.update(self.files)

    def _write_history(self) -> None:
        path = write_json(self.output_dir / HISTORY_NAME, self._history_doc, sync_dir=False)
        self.files["history"] = str(path)

    def _write_curves(self) -> None:
        if not self.curves:
            return
        self.files["curves"] = str(
            save_curves(
                self.output_dir / CURVES_NAME,
                self.history,
                title=curves_title(self._config_doc),
                test_report=self._test_report,
                sync_dir=False,
            )
        )
        self._curves_at, self._curves_epoch = time.perf_counter(), self._epochs
