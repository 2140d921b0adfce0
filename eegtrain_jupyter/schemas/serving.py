"""Using a trained run: its full record, prediction, evaluation and export (``/training/runs/{run_id}/*``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Shape
from .data import FileSummary
from .run import Metrics, RunRecord, TestReport

__all__ = [
    "Deleted",
    "EvaluateRequest",
    "Evaluation",
    "ExportRequest",
    "ExportResult",
    "Parity",
    "PredictRequest",
    "Prediction",
    "RunDetail",
]


class RunDetail(RunRecord):
    """``GET /training/runs/{run_id}``: the run record, its per-epoch metrics, the checkpoint's
    metrics (validation; test when the run evaluated one), its model card and the names of the
    files ``GET /training/runs/{run_id}/files/{name}`` serves."""

    history: Metrics
    checkpoint_metrics: dict[str, Any] | None = None
    test_metrics: dict[str, Any] | None = None
    model_card: dict[str, Any] | None = None
    downloads: list[str] = []


class PredictRequest(Shape):
    """``POST /training/runs/{run_id}/predict``: ``windows`` or ``path``, not both.

    ``windows``: ``(n_windows, n_chans, n_times)`` in µV, channels in the model's order unless
    ``ch_names`` names them. ``path``: a recording inside the server root (MNE formats, epochs
    ``*-epo.fif``, or a ``.npy`` array), preprocessed and windowed as in training (``step_s``: seconds
    between window starts of a continuous recording; default one window).
    """

    windows: list[list[list[float]]] | None = None
    ch_names: list[str] | None = None
    path: str | None = None
    step_s: float | None = Field(None, gt=0)


class Prediction(Shape):
    """Per-window class probabilities (columns in ``classes`` order) and the most probable label."""

    run_id: str | None
    classes: list[str]
    labels: list[str]
    probabilities: list[list[float]]
    n_windows: int
    window_starts_s: list[float] | None = None
    source: str | None = None


class EvaluateRequest(Shape):
    """``POST /training/runs/{run_id}/evaluate``: labelled recordings to score the run's model on.

    The recordings are labelled, windowed and preprocessed as the run's were: its ``labels``,
    ``tmin``, ``sliding``, ``step_s`` and ``subject_pattern`` (a run on ``files``; another run's
    classes are their own annotation names), its channels, filters and rate. The fields below
    replace the run's where the new recordings differ.
    """

    files: list[str] = Field(
        min_length=1, description="Recordings or globs inside the server root, as the files source's paths"
    )
    labels: dict[str, str] | None = Field(
        None,
        description="Annotation/event name -> class name (each one of the run's classes); "
        "unset: the run's labels",
    )
    subject_pattern: str | None = Field(
        None,
        description="Regex on the file name whose group 'subject' (or first group) is the subject; "
        "unset: the run's; '' for no subjects",
    )
    subjects: dict[str, str] | None = Field(
        None, description="File name -> subject id (instead of subject_pattern)"
    )
    channel_map: dict[str, str] | None = Field(
        None, description="Recording channel name -> the model's channel name; unset: the run's"
    )
    sliding: bool | None = Field(
        None, description="Slide windows over each annotation's span; unset: as the run did"
    )
    step_s: float | None = Field(None, gt=0, le=60, description="Hop between sliding windows (s)")


class Evaluation(TestReport):
    """A trained model scored on labelled recordings it was not trained on: the held-out test
    report's scores (:class:`TestReport`, ``epoch`` the checkpoint's), the files read and which
    of them the run trained or tested on."""

    run_id: str | None = None
    files: list[FileSummary] = []
    """Each recording read: its subject, windows and annotations."""
    seen_in_training: list[str] = []
    """Recordings that were also among the run's own data (their scores are optimistic)."""


class ExportRequest(Shape):
    """``POST /training/runs/{run_id}/export``."""

    format: Literal["onnx", "torch_export"] = "onnx"


class Parity(Shape):
    """An export checked against the torch model on the same windows (batch 1 and the rest)."""

    runtime: str
    reference: str
    n_windows: int
    batch_sizes: list[int]
    max_abs_diff: float
    """Largest |Δ probability| over every window and class."""
    tolerance: float
    passed: bool
    same_labels: bool


class ExportResult(Shape):
    run_id: str | None
    format: str
    path: str
    size_bytes: int
    seconds: float
    parity: Parity
    parity_path: str


class Deleted(Shape):
    """``DELETE /training/runs/{run_id}``: the run folder removed (published top-level files are kept)."""

    run_id: str
    run_dir: str
    deleted: bool
