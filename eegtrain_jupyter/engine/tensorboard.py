"""TensorBoard event files for every run, so ``tensorboard --logdir <save_dir>/tensorboard`` compares
runs the way PyTorch users already do.

:class:`TensorBoardWriter` is a :class:`~eegtrain_jupyter.engine.events.TrainingListener` over
``torch.utils.tensorboard.SummaryWriter``; it needs the optional ``tensorboard`` package
(``pip install eegtrain-jupyter[tensorboard]``). :func:`for_run` returns ``None`` without it,
so training never depends on it.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import TYPE_CHECKING, Any

from ..errors import MissingDependency, soft_import
from .events import EpochResult, TrainingListener, TrainingResult

if TYPE_CHECKING:
    from ..config.training import TrainingConfig

__all__ = ["FLUSH_SECS", "TENSORBOARD_DIR", "TensorBoardWriter", "available", "for_dir", "for_run", "run_dir"]

log = logging.getLogger(__name__)

TENSORBOARD_DIR = "tensorboard"
"""Folder under ``save_dir`` holding one event-file folder per run id."""
FLUSH_SECS = 2
"""Seconds between flushes of a run's event file while it trains (TensorBoard's default is 120)."""


def available() -> bool:
    """Whether ``torch.utils.tensorboard`` can be imported (the ``tensorboard`` package is
    installed); when it cannot, the install hint is logged once."""
    try:
        soft_import("tensorboard", "TensorBoard event files", "tensorboard")
        import torch.utils.tensorboard  # noqa: F401
    except MissingDependency as exc:
        _hint(str(exc))
        return False
    except ImportError:
        return False
    return True


@functools.cache
def _hint(message: str) -> None:
    log.info("%s", message)


class TensorBoardWriter(TrainingListener):
    """Writes a run's per-epoch metrics, model facts and hyper-parameters as TensorBoard events.

    Scalars (step = epoch): ``loss/train``, ``loss/val``, ``accuracy/train``, ``accuracy/val``
    (%, validation split), ``time/epoch_s``. Text: ``config`` (JSON) and ``model``. At the end,
    the hyper-parameters (TensorBoard's HParams tab) with ``hparam/best_val_acc``.

    Parameters
    ----------
    log_dir : path
        This run's folder (``<save_dir>/tensorboard/<run_id>``).
    config : TrainingConfig
        The run's config (logged as text and as hyper-parameters).
    """

    def __init__(self, log_dir: str | os.PathLike[str], config: TrainingConfig):
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = os.fspath(log_dir)
        self.config = config
        # the event file is flushed every FLUSH_SECS by SummaryWriter's own thread (and at the
        # end), not after every epoch: head epochs on cached features take milliseconds
        self.writer = SummaryWriter(self.log_dir, flush_secs=FLUSH_SECS)
        self.writer.add_text("config", "```json\n" + config.model_dump_json(indent=2) + "\n```", 0)
        self._closed = False

    def on_model(self, *, name: str, n_parameters: int, n_trainable: int) -> None:
        self.writer.add_text("model", f"{name}: {n_parameters:,} parameters ({n_trainable:,} trainable)", 0)

    def on_epoch_end(self, result: EpochResult, history: dict[str, list[float]]) -> None:
        step = result.epoch
        self.writer.add_scalar("loss/train", result.train_loss, step)
        self.writer.add_scalar("loss/val", result.val_loss, step)
        self.writer.add_scalar("accuracy/train", result.train_acc, step)
        self.writer.add_scalar("accuracy/val", result.val_acc, step)
        self.writer.add_scalar("time/epoch_s", result.duration, step)

    def on_end(self, result: TrainingResult) -> None:
        hparams: dict[str, Any] = {
            k: (v if isinstance(v, (int, float, str, bool)) else str(v))
            for k, v in self.config.model_dump().items()
        }
        metrics = {"hparam/best_val_acc": result.best_val_acc if result.best_val_acc is not None else 0.0}
        # run_name="." keeps the HParams summary in this run's own folder
        self.writer.add_hparams(hparams, metrics, run_name=".")
        self.close()

    def close(self) -> None:
        """Flush and close the event files (idempotent; also after a failed run)."""
        if not self._closed:
            self._closed = True
            self.writer.close()


def run_dir(save_dir: str | os.PathLike[str], run_id: str) -> str:
    """The event-file folder of run ``run_id``: ``<save_dir>/tensorboard/<run_id>``."""
    return os.path.join(save_dir, TENSORBOARD_DIR, run_id)


def for_dir(log_dir: str | os.PathLike[str], config: TrainingConfig) -> TensorBoardWriter | None:
    """A writer for ``log_dir``, or ``None`` when tensorboard is missing or the folder cannot be
    written (logged; the run goes on without it)."""
    if not available():
        return None
    try:
        return TensorBoardWriter(log_dir, config)
    except OSError as exc:
        log.warning("no TensorBoard events in %s: %s", os.fspath(log_dir), exc)
        return None


def for_run(
    save_dir: str | os.PathLike[str], run_id: str, config: TrainingConfig
) -> TensorBoardWriter | None:
    """A writer for ``<save_dir>/tensorboard/<run_id>`` (see :func:`for_dir`)."""
    return for_dir(run_dir(save_dir, run_id), config)
