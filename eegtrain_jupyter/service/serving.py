"""Using recorded runs from the service: their details, files, predictions and exports.

:class:`RunServing` is the part of :class:`~eegtrain_jupyter.service.manager.TrainingManager` that works on
*finished or running* runs rather than on the training thread: it turns REST-shaped requests into
:mod:`~eegtrain_jupyter.serving.predict` / :mod:`~eegtrain_jupyter.serving.export` calls run by the
data worker (:mod:`~eegtrain_jupyter.runtime.dataworker`, which keeps the last few loaded models so
repeated predictions do not rebuild LaBraM each time), and confines every path to the root
(:class:`~eegtrain_jupyter.data.paths.PathPolicy`).
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from pydantic import BaseModel, ValidationError

from .. import files
from ..config.training import _field_errors
from ..data.paths import PathPolicy
from ..engine import artifacts
from ..errors import ConfigError, Conflict, FieldError, NotFound
from ..runtime.dataworker import DataWorker
from ..schemas import (
    EvaluateRequest,
    Evaluation,
    ExportRequest,
    ExportResult,
    Metrics,
    Prediction,
    PredictRequest,
    RunDetail,
)
from ..serving.model_card import MODEL_CARD_JSON
from .runs import Run, RunStore

if TYPE_CHECKING:
    from ..serving.predict import TrainedModel

__all__ = ["RunServing", "load_model", "parse_request", "resolve_checkpoint"]

_MAX_FIELD_ERRORS = 10


def parse_request(model: type[BaseModel], body: Any) -> Any:
    """``body`` validated as ``model``; a :class:`ConfigError` naming (at most ten) bad fields."""
    try:
        return model.model_validate(body if body is not None else {})
    except ValidationError as exc:
        errors = _field_errors(exc)
        more = len(errors) - _MAX_FIELD_ERRORS
        errors = errors[:_MAX_FIELD_ERRORS] + (
            [FieldError("body", f"... and {more} more")] if more > 0 else []
        )
        raise ConfigError(
            errors, "Invalid request: " + "; ".join(f"{e.field}: {e.message}" for e in errors[:3])
        ) from None


def resolve_checkpoint(path_or_run_id: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """The checkpoint file that ``path_or_run_id`` names.

    Parameters
    ----------
    path_or_run_id : path or str
        A checkpoint file, a folder holding one (a run folder or a ``save_dir``; ``best_model.pth``
        or ``best_synthetic_model.pth``, the newer when both are there), or the id of a run
        recorded under ``root``.
    root : path, optional
        Where relative paths start and whose run index is searched (default: the working directory).

    Raises
    ------
    NotFound
        Neither a file, a folder with a checkpoint, nor a known run.
    Conflict
        A known run that has no checkpoint yet (no epoch finished).
    """
    base = Path(root or ".").resolve()
    path = Path(os.path.expanduser(os.fspath(path_or_run_id)))
    path = path if path.is_absolute() else base / path
    if path.is_file():
        return path
    if path.is_dir():
        found = artifacts.find_checkpoint(path)
        if found is None:
            raise NotFound(f"no {' or '.join(artifacts.CHECKPOINT_NAMES)} in {path}")
        return found
    run_dir = RunStore(base).run_dir(str(path_or_run_id))  # NotFound when no such run
    checkpoint = artifacts.find_checkpoint(run_dir)
    if checkpoint is None:
        raise Conflict(f"run {path_or_run_id} has no checkpoint yet (no epoch has finished)")
    return checkpoint


def load_model(
    path_or_run_id: str | os.PathLike, root: str | os.PathLike | None = None, *, batch_size: int = 64
) -> TrainedModel:
    """Load a trained model for prediction (on the CPU, in eval mode).

    Parameters
    ----------
    path_or_run_id : path or str
        A checkpoint file, a folder with one, or a run id (see :func:`resolve_checkpoint`).
    root : path, optional
        Where relative paths start and whose runs are searched (default: the working directory).
    batch_size : int
        Windows per forward pass.

    Examples
    --------
    >>> model = load_model("trained_models")  # doctest: +SKIP
    >>> model.predict(X)  # X: (n, 8, 800) µV  # doctest: +SKIP
    array(['relaxed', 'anxious', ...], dtype='<U7')
    """
    from ..serving.predict import TrainedModel

    return TrainedModel.from_checkpoint(resolve_checkpoint(path_or_run_id, root), batch_size=batch_size)


class RunServing:
    """Details, downloads, prediction and export for runs (``run`` objects come from the manager).

    Parameters
    ----------
    paths : PathPolicy
        Confines recording paths given over REST.
    data_worker : DataWorker
        Runs what reads checkpoints and recordings (it keeps the last few loaded models).
    """

    def __init__(self, paths: PathPolicy, data_worker: DataWorker):
        self.paths = paths
        self.data_worker = data_worker
        self._draw_lock = threading.Lock()

    # -- details and files -------------------------------------------------------------------
    def detail(self, run: Run) -> RunDetail:
        """The run's record plus history, checkpoint metrics, model card and downloadable files."""
        card = _read_json(run.run_dir / MODEL_CARD_JSON)
        metrics = (card or {}).get("metrics") or {}
        return RunDetail(
            **run.record().model_dump(),
            history=Metrics(**run.history),
            checkpoint_metrics=metrics.get("validation"),
            test_metrics=metrics.get("test"),
            model_card=card,
            downloads=self.downloads(run),
        )

    @staticmethod
    def downloads(run: Run) -> list[str]:
        """Names of the run's own files (regular files directly in its folder, no symlinks, no
        temp files), plus the curves PNG of an ended run that has a history but no PNG (a
        search's trial): :meth:`file` draws it on request. A run folder that is a symlink has none."""
        if run.run_dir.is_symlink():
            return []
        try:
            names = {
                p.name
                for p in run.run_dir.iterdir()
                if p.is_file() and not p.is_symlink() and not p.name.startswith(".")
            }
        except OSError:
            return []
        if artifacts.HISTORY_NAME in names and not run.state.active:
            names.add(artifacts.CURVES_NAME)
        return sorted(names)

    def file(self, run: Run, name: str) -> Path:
        """The file ``name`` of ``run``'s folder; anything else (another folder, a link, ``..``) is 404.
        A listed curves PNG that is not on disk yet is drawn from the history first."""
        listed = self.downloads(run)
        if name not in listed:
            shown = name if len(name) <= 100 else name[:100] + "..."
            raise NotFound(f"run {run.run_id} has no file {shown!r}; it has {', '.join(listed) or 'none'}")
        path = run.run_dir / name
        if name == artifacts.CURVES_NAME and not path.exists():
            with self._draw_lock:  # two requests draw it once
                if not path.exists() and not self.data_worker.call(
                    "draw_curves", field="name", run_dir=str(run.run_dir)
                ):
                    raise NotFound(f"run {run.run_id} has no history to draw {name!r} from")
        return path

    def open_file(self, run: Run, name: str) -> BinaryIO:
        """The file ``name`` of ``run``'s folder (see :meth:`file`), open for reading.

        Opened without following a symlink, and checked to be a regular file once open, so a
        file swapped for a link after it was listed is refused (404), never read through.
        """
        path = self.file(run, name)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            raise NotFound(f"run {run.run_id} has no readable file {name!r}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise NotFound(f"run {run.run_id} has no file {name!r}")
        return os.fdopen(fd, "rb")

    # -- models: read in the data worker ------------------------------------------------------
    def predict(self, run: Run, body: dict[str, Any] | PredictRequest | None) -> Prediction:
        """Probabilities and labels per window for ``windows`` or a recording ``path`` (see
        :class:`~.schemas.PredictRequest`), computed in the data worker."""
        req = body if isinstance(body, PredictRequest) else parse_request(PredictRequest, body)
        if (req.windows is None) == (req.path is None):
            raise ConfigError.field("body", "give either windows or path (a recording inside the root)")
        prediction: Prediction = self.data_worker.call(
            "predict",
            field="path" if req.path is not None else "windows",
            run_dir=str(run.run_dir),
            run_id=run.run_id,
            request=req,
            root_dir=str(self.paths.root_dir),
            confine=self.paths.confine,
        )
        return prediction

    def evaluate(self, run: Run, body: dict[str, Any] | EvaluateRequest | None) -> Evaluation:
        """The run's model scored on labelled recordings inside the root (see
        :class:`~.schemas.EvaluateRequest`): the held-out test report's shape, computed in the data
        worker."""
        req = body if isinstance(body, EvaluateRequest) else parse_request(EvaluateRequest, body)
        result: Evaluation = self.data_worker.call(
            "evaluate",
            field="files",
            run_dir=str(run.run_dir),
            run_id=run.run_id,
            request=req,
            root_dir=str(self.paths.root_dir),
            confine=self.paths.confine,
        )
        return result

    def export(self, run: Run, body: dict[str, Any] | ExportRequest | None) -> ExportResult:
        """Export the run's model into its folder and check it against torch (see
        :mod:`~..serving.export`), in the data worker."""
        req = body if isinstance(body, ExportRequest) else parse_request(ExportRequest, body)
        result: ExportResult = self.data_worker.call(
            "export", field="format", run_dir=str(run.run_dir), run_id=run.run_id, format=req.format
        )
        return result


def _read_json(path: Path) -> Any:
    try:
        return files.read_json(path)
    except (OSError, ValueError):
        return None
