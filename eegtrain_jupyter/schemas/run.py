"""A run's shapes: its status while it trains, its history, and its record once listed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from ..config.training import TrainingConfig
from .base import Shape, TrainingState

SEARCH_PREFIX = "search-"
"""A search's id starts so (``search-20250101-120000-3f9a2c``)."""
BENCHMARK_PREFIX = "bench-"
"""A benchmark's id starts so."""


def run_kind(job: str | None) -> str:
    """What a run with this ``job`` is: ``trial`` (a search's), ``fold`` (a benchmark's) or ``run``."""
    if job is None:
        return "run"
    if job.startswith(SEARCH_PREFIX):
        return "trial"
    return "fold" if job.startswith(BENCHMARK_PREFIX) else "run"


__all__ = [
    "BENCHMARK_PREFIX",
    "SEARCH_PREFIX",
    "Backbone",
    "BackboneLoad",
    "BatchProgress",
    "ClassScores",
    "CoreStatus",
    "History",
    "Metrics",
    "RunOutcome",
    "RunRecord",
    "Runs",
    "Status",
    "SubjectScores",
    "TestReport",
    "empty_history",
    "run_kind",
]


def empty_history() -> dict[str, list[float]]:
    """The history's four loss and accuracy lists (:class:`Metrics`), empty."""
    return {"train_losses": [], "val_losses": [], "train_accs": [], "val_accs": []}


class Metrics(Shape):
    """Per-epoch metrics: losses and accuracies (``training_history.json``'s first keys), then the validation scores
    of :mod:`~eegtrain_jupyter.engine.evaluation` (percent; ROC AUC None where one class only)."""

    train_losses: list[float]
    val_losses: list[float]
    train_accs: list[float]
    val_accs: list[float]
    val_balanced_accs: list[float] = []
    val_macro_f1s: list[float] = []
    val_roc_aucs: Sequence[float | None] = []


class ClassScores(Shape):
    precision: float
    recall: float
    f1: float
    support: int
    roc_auc: float | None = None
    """This class against the others (None when it is absent from the split, or alone in it)."""


class SubjectScores(Shape):
    """One subject's windows scored (percent)."""

    n: int
    accuracy: float
    balanced_accuracy: float
    macro_f1: float


class TestReport(Shape):
    """The held-out test split, scored once at the end with the best checkpoint (percent, except
    ``cohen_kappa``); balanced accuracy is the primary score. Definitions:
    :func:`~eegtrain_jupyter.engine.evaluation.report`."""

    n: int
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    roc_auc: float | None
    cohen_kappa: float | None = None
    """Cohen's kappa, a coefficient in [-1, 1] (0: chance agreement)."""
    weighted_f1: float | None = None
    """F1 averaged over the classes weighted by their support."""
    average_precision: float | None = None
    """AUC-PR of the second class (binary tasks only)."""
    per_class: dict[str, ClassScores]
    confusion_matrix: list[list[int]]
    """Rows: true class, columns: predicted class, both in ``class_names`` order."""
    class_names: list[str]
    epoch: int | None
    """The best (validation) epoch whose weights were tested."""
    split: str
    subjects: list[str] = []
    """The test subjects (a subject-wise split)."""
    per_subject: dict[str, SubjectScores] = {}
    """Scores of each subject's windows, when the windows' subjects are known."""


class BatchProgress(Shape):
    """The batch in flight; ``train_loss``/``train_acc`` (%) are the running means over this epoch's
    training batches, kept while its validation batches run."""

    epoch: int
    batch: int
    n_batches: int
    phase: str
    train_loss: float | None = None
    train_acc: float | None = None


class BackboneLoad(Shape):
    """How pretrained weights matched the model: backbone and head counted apart."""

    source: str
    format: str
    backbone_keys: int
    matched: int
    adapted: list[str] = []
    missing: list[str] = []
    unexpected: list[str] = []
    shape_mismatched: list[str] = []
    head_keys: int = 0
    n_outputs: int = 0
    summary: str


class Backbone(Shape):
    """Where the backbone's weights came from, said plainly."""

    origin: str
    weights_path: str | None = None
    missing_keys: list[str] = []
    unexpected_keys: list[str] = []
    load: BackboneLoad | None = None
    message: str


def _package_version() -> str:
    from .._version import __version__

    return __version__


class CoreStatus(Shape):
    """The status fields every client relies on (the original system's), in its order."""

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


class RunOutcome(Shape):
    """What a run is and what it produced: shared by its live :class:`Status` and its :class:`RunRecord`."""

    run_id: str | None
    state: TrainingState
    config: TrainingConfig
    save_dir: str | None
    run_dir: str | None
    started_at: str | None
    finished_at: str | None
    best_val_acc: float | None
    best_epoch: int | None = None
    error: str | None
    device: str | None
    precision: str | None
    precision_reason: str | None = None
    """Why ``precision`` was used, e.g. ``bf16 (cpu: avx512_bf16)`` or ``fp32 (requested)``."""
    backbone: Backbone | None
    model: str | None = None
    """The classifier (the config's ``model``), once the run has built it."""
    n_parameters: int | None = None
    """Its parameter count (all; with a frozen backbone only the head's train)."""
    n_trainable: int | None = None
    files: dict[str, str] = {}
    """This run's outputs by kind (``checkpoint``, ``history``, ``curves``), in its run folder."""
    published: dict[str, str] = {}
    """The top-level files in ``save_dir`` this run replaced, by file name (only a completed run does)."""
    split: str | None = None
    """How the windows were split: by subject (held-out people) or by window, with the counts."""
    early_stopped: bool = False
    test_report: TestReport | None = None
    job: str | None = None
    """The search or benchmark that started this run (its id), if any."""
    world_size: int | None = None
    """Processes training the run: processes per node (``config.devices``) × ``config.nnodes``
    (1 for one process)."""


class Status(RunOutcome, CoreStatus):
    """``GET /training/status``: progress and metrics, the run's outcome so far, then what is in flight."""

    phase: str | None
    batch: BatchProgress | None
    version: str = Field(default_factory=lambda: _package_version())
    """The eegtrain-jupyter that answers (the server's, over REST)."""

    @classmethod
    def idle(cls) -> Status:
        """Before any run: zeros, the default config, no run facts."""
        unset = ("run_id", "save_dir", "run_dir", "started_at", "finished_at", "error", "device", "precision")
        nothing: dict[str, Any] = dict.fromkeys(
            (*unset, "train_loss", "val_loss", "train_acc", "val_acc", "best_val_acc", "backbone")
        )
        nothing |= dict.fromkeys(
            ("elapsed_time", "elapsed_time_formatted", "eta", "eta_formatted", "phase", "batch")
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


class History(Metrics):
    """``GET /training/history``: the current/last run's per-epoch metrics and its test report."""

    run_id: str | None
    state: TrainingState
    test_report: TestReport | None = None
    epoch_times: list[float]
    best_val_acc: float | None
    best_epoch: int | None


class RunRecord(RunOutcome):
    """One run as listed by ``GET /training/runs`` (and kept in its ``run.json``)."""

    run_id: str
    save_dir: str
    run_dir: str
    started_at: str
    duration: float | None
    epochs_completed: int
    epoch_times: list[float]


class Runs(Shape):
    runs: list[RunRecord]
