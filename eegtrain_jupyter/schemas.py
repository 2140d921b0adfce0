"""Response shapes: one pydantic model per fact the trainer reports.

The service builds these, the REST handlers serialise them (``model_dump(mode="json")``), the
in-process client returns the same dicts, and the OpenAPI document is generated from them. There
is no second, hand-written copy of any shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .config import TrainingConfig
from .search_space import SearchRequest

__all__ = [
    "REQUEST_MODELS",
    "RESPONSE_MODELS",
    "AlignedHistory",
    "Backbone",
    "BatchProgress",
    "BestTrial",
    "ClassScores",
    "Comparison",
    "DataSummary",
    "Deleted",
    "ErrorBody",
    "ExportRequest",
    "ExportResult",
    "FieldErrorBody",
    "FileSummary",
    "History",
    "Metrics",
    "Parity",
    "PredictRequest",
    "Prediction",
    "RunDetail",
    "RunRecord",
    "Runs",
    "SearchState",
    "SearchStatus",
    "Status",
    "TestReport",
    "TrainingState",
    "TrialInfo",
    "ValidationBody",
    "empty_history",
]


class TrainingState(str, Enum):
    """Life cycle of a run; ``idle`` only when no run was ever recorded."""

    IDLE = "idle"
    PREPARING = "preparing"
    TRAINING = "training"
    STOPPING = "stopping"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def active(self) -> bool:
        return self in (TrainingState.PREPARING, TrainingState.TRAINING, TrainingState.STOPPING)


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, as sent over REST."""
        return self.model_dump(mode="json")


class FieldErrorBody(_Shape):
    field: str
    message: str


class ErrorBody(_Shape):
    """Every 4xx/5xx body (:meth:`~eegtrain_jupyter.errors.EegtrainError.body`); ``run_id`` only on 409."""

    error: str
    type: str | None = None
    errors: list[FieldErrorBody]
    run_id: str | None = None


class FileSummary(_Shape):
    """One recording as the data scan found it."""

    path: str
    subject: str | None
    sfreq: float
    n_channels: int
    duration_s: float
    n_windows: int
    annotations: dict[str, int] = {}
    """Annotation/event names in the file and how often each occurs (labelled or not)."""


class DataSummary(_Shape):
    """What a ``files``/``epochs`` source holds, before any training (``POST /training/config/validate``)."""

    source: str
    n_windows: int
    window_s: float
    sfreq: float
    ch_names: list[str]
    """Model-input channels, in order (LaBraM names)."""
    renamed: dict[str, str] = {}
    """Recording channel -> LaBraM name, where they differ."""
    class_names: list[str]
    windows_per_class: dict[str, int]
    windows_per_subject: dict[str, int] = {}
    subjects: list[str] = []
    files: list[FileSummary] = []
    cached: bool = False
    """The windows came from the on-disk cache."""


class ValidationBody(_Shape):
    valid: bool
    errors: list[FieldErrorBody]
    config: TrainingConfig | None
    data_summary: DataSummary | None = None
    """For ``files``/``epochs`` sources, the scan of the data (None when invalid or synthetic)."""


def empty_history() -> dict[str, list[float]]:
    """The seed's history shape (:class:`Metrics`), empty."""
    return {"train_losses": [], "val_losses": [], "train_accs": [], "val_accs": []}


class Metrics(_Shape):
    """Per-epoch metrics, the seed's ``training_history.json`` keys, then the validation scores
    of :mod:`~eegtrain_jupyter.evaluation` (percent; ROC AUC None where one class only)."""

    train_losses: list[float]
    val_losses: list[float]
    train_accs: list[float]
    val_accs: list[float]
    val_balanced_accs: list[float] = []
    val_macro_f1s: list[float] = []
    val_roc_aucs: Sequence[float | None] = []


class ClassScores(_Shape):
    precision: float
    recall: float
    f1: float
    support: int


class TestReport(_Shape):
    """The held-out test split, scored once at the end with the best checkpoint (percent)."""

    n: int
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    roc_auc: float | None
    per_class: dict[str, ClassScores]
    confusion_matrix: list[list[int]]
    """Rows: true class, columns: predicted class, both in ``class_names`` order."""
    class_names: list[str]
    epoch: int | None
    """The best (validation) epoch whose weights were tested."""
    split: str
    subjects: list[str] = []
    """The test subjects (a subject-wise split)."""


class BatchProgress(_Shape):
    """The batch in flight; ``train_loss``/``train_acc`` (%) are the running means over this epoch's
    training batches, kept while its validation batches run."""

    epoch: int
    batch: int
    n_batches: int
    phase: str
    train_loss: float | None = None
    train_acc: float | None = None


class Backbone(_Shape):
    """Where the backbone's weights came from, said plainly."""

    origin: str
    weights_path: str | None = None
    missing_keys: list[str] = []
    unexpected_keys: list[str] = []
    message: str


def _package_version() -> str:
    from . import __version__

    return __version__


class Status(_Shape):
    """The seed's status fields, then state, phase, batch progress, error and run facts."""

    version: str = Field(default_factory=lambda: _package_version())
    """The eegtrain-jupyter that answers (the server's, over REST)."""
    is_training: bool
    current_epoch: int
    total_epochs: int
    train_loss: float | None
    val_loss: float | None
    train_acc: float | None
    val_acc: float | None
    best_val_acc: float | None
    elapsed_time: float | None
    elapsed_time_formatted: str | None
    eta: float | None
    eta_formatted: str | None
    config: TrainingConfig
    history: Metrics
    state: TrainingState
    phase: str | None
    batch: BatchProgress | None
    error: str | None
    run_id: str | None
    device: str | None
    precision: str | None
    backbone: Backbone | None
    best_epoch: int | None = None
    started_at: str | None
    finished_at: str | None
    run_dir: str | None
    save_dir: str | None
    files: dict[str, str] = {}
    """This run's outputs by kind (``checkpoint``, ``history``, ``curves``), in its run folder."""
    published: dict[str, str] = {}
    """The top-level files in ``save_dir`` this run replaced, by file name (only a completed run does)."""
    split: str | None = None
    """How the windows were split: by subject (held-out people) or by window, with the counts."""
    early_stopped: bool = False
    test_report: TestReport | None = None
    model: str | None = None
    """The classifier (the config's ``model``), once the run has built it."""
    n_parameters: int | None = None
    """Its parameter count (all; with a frozen backbone only the head's train)."""
    n_trainable: int | None = None
    precision_reason: str | None = None
    """Why ``precision`` was used, e.g. ``bf16 (cpu: avx512_bf16)`` or ``fp32 (requested)``."""

    @classmethod
    def idle(cls) -> Status:
        """Before any run: zeros, the default config, no run facts."""
        nothing: dict[str, Any] = dict.fromkeys(
            (
                "train_loss",
                "val_loss",
                "train_acc",
                "val_acc",
                "best_val_acc",
                "elapsed_time",
                "elapsed_time_formatted",
                "eta",
                "eta_formatted",
                "phase",
                "batch",
                "error",
                "run_id",
                "device",
                "precision",
                "backbone",
                "started_at",
                "finished_at",
                "run_dir",
                "save_dir",
            )
        )
        return cls(
            is_training=False,
            current_epoch=0,
            total_epochs=0,
            config=TrainingConfig(),
            history=Metrics(**empty_history()),
            state=TrainingState.IDLE,
            **nothing,
        )


class History(_Shape):
    run_id: str | None
    state: TrainingState
    train_losses: list[float]
    val_losses: list[float]
    train_accs: list[float]
    val_accs: list[float]
    val_balanced_accs: list[float] = []
    val_macro_f1s: list[float] = []
    val_roc_aucs: Sequence[float | None] = []
    test_report: TestReport | None = None
    epoch_times: list[float]
    best_val_acc: float | None
    best_epoch: int | None


class RunRecord(_Shape):
    """One run as listed by ``GET /training/runs`` (and kept in its ``run.json``)."""

    run_id: str
    state: TrainingState
    config: TrainingConfig
    save_dir: str
    run_dir: str
    started_at: str
    finished_at: str | None
    duration: float | None
    epochs_completed: int
    best_val_acc: float | None
    best_epoch: int | None
    error: str | None
    device: str | None
    precision: str | None
    backbone: Backbone | None
    epoch_times: list[float]
    files: dict[str, str] = {}
    published: dict[str, str] = {}
    split: str | None = None
    early_stopped: bool = False
    test_report: TestReport | None = None
    model: str | None = None
    n_parameters: int | None = None
    n_trainable: int | None = None
    precision_reason: str | None = None
    """Why ``precision`` was used, e.g. ``bf16 (cpu: avx512_bf16)``."""


class Runs(_Shape):
    runs: list[RunRecord]


class AlignedHistory(_Shape):
    """One run's per-epoch metrics padded with ``null`` to the longest run compared (epoch ``i+1``
    at index ``i``); accuracies in %, on the training and validation splits."""

    train_losses: list[float | None]
    val_losses: list[float | None]
    train_accs: list[float | None]
    val_accs: list[float | None]


class Comparison(_Shape):
    """``GET /training/compare?runs=a,b``: runs side by side, in the order asked."""

    run_ids: list[str]
    epochs: list[int]
    """1 .. the most epochs any compared run finished (the x axis of every history)."""
    runs: list[RunRecord]
    histories: dict[str, AlignedHistory]
    """By run id."""
    config_diff: dict[str, dict[str, Any]]
    """Config fields whose values differ: field -> run id -> value."""
    config_common: dict[str, Any]
    """Config fields every compared run shares, with their value."""


class SearchState(str, Enum):
    """Life cycle of a hyper-parameter search; ``idle`` only when none was ever started."""

    IDLE = "idle"
    RUNNING = "running"
    STOPPING = "stopping"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def active(self) -> bool:
        return self in (SearchState.RUNNING, SearchState.STOPPING)


class TrialInfo(_Shape):
    """One trial: Optuna's state (``running``, ``complete``, ``pruned``, ``fail``) or ours when it
    says more (``stopped`` by the user, ``interrupted`` by a restart); ``value`` is the metric of
    its best epoch (validation split)."""

    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    run_id: str | None
    error: str | None = None


class BestTrial(_Shape):
    number: int
    value: float
    params: dict[str, Any]
    run_id: str | None
    config: TrainingConfig
    """The full config of the best trial (``POST /training/start`` it to train it again)."""


class SearchStatus(_Shape):
    """``GET /training/search``: the current/last search, its trials and the best so far."""

    search_id: str | None
    state: SearchState
    request: SearchRequest | None
    storage: str | None
    """Optuna storage URL (open it with ``optuna-dashboard <storage>``); the study is ``search_id``."""
    direction: str | None
    started_at: str | None
    finished_at: str | None
    error: str | None
    current_run_id: str | None
    n_finished: int
    trials: list[TrialInfo]
    best: BestTrial | None


# -- using a trained run: its record, prediction, export (issue 12) -------------------------------
class RunDetail(RunRecord):
    """``GET /training/runs/{run_id}``: the run record, its per-epoch metrics, the checkpoint's
    metrics (validation; test when the run evaluated one), its model card and the names of the
    files ``GET /training/runs/{run_id}/files/{name}`` serves."""

    history: Metrics
    checkpoint_metrics: dict[str, Any] | None = None
    test_metrics: dict[str, Any] | None = None
    model_card: dict[str, Any] | None = None
    downloads: list[str] = []


class PredictRequest(_Shape):
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


class Prediction(_Shape):
    """Per-window class probabilities (columns in ``classes`` order) and the most probable label."""

    run_id: str | None
    classes: list[str]
    labels: list[str]
    probabilities: list[list[float]]
    n_windows: int
    window_starts_s: list[float] | None = None
    source: str | None = None


class ExportRequest(_Shape):
    """``POST /training/runs/{run_id}/export``."""

    format: Literal["onnx", "torch_export"] = "onnx"


class Parity(_Shape):
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


class ExportResult(_Shape):
    run_id: str | None
    format: str
    path: str
    size_bytes: int
    seconds: float
    parity: Parity
    parity_path: str


class Deleted(_Shape):
    """``DELETE /training/runs/{run_id}``: the run folder removed (published top-level files are kept)."""

    run_id: str
    run_dir: str
    deleted: bool


RESPONSE_MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m
    for m in (
        ErrorBody,
        ValidationBody,
        Status,
        History,
        Runs,
        RunRecord,
        Comparison,
        SearchStatus,
        RunDetail,
        Prediction,
        ExportResult,
        Parity,
        Deleted,
    )
}
"""Response models by schema name (the OpenAPI document and the tests use them)."""

REQUEST_MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m for m in (SearchRequest, PredictRequest, ExportRequest)
}
"""Request bodies other than the config, by schema name (in the OpenAPI document)."""
