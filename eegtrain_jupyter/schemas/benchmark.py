"""``GET /training/benchmark``: a benchmark's runs (one per model × fold × repeat), their test
scores, and the summary with its statistics once folds have finished."""

from __future__ import annotations

from ..config.benchmark import BenchmarkRequest
from .base import JobState, Shape

__all__ = [
    "BENCHMARK_METRICS",
    "BenchmarkComparison",
    "BenchmarkModelSummary",
    "BenchmarkResult",
    "BenchmarkState",
    "BenchmarkStatus",
    "BenchmarkSummary",
]


BenchmarkState = JobState
"""The life cycle of a benchmark (:class:`~.base.JobState`)."""

BENCHMARK_METRICS = (
    "balanced_accuracy",
    "accuracy",
    "cohen_kappa",
    "macro_f1",
    "weighted_f1",
    "roc_auc",
    "average_precision",
)
"""The test report's scores a benchmark result carries (percent; ``cohen_kappa`` a coefficient)."""


class BenchmarkResult(Shape):
    """One run of the benchmark: a model on one fold of one repeat, and its test scores (percent,
    ``cohen_kappa`` a coefficient) once it completed."""

    label: str
    model: str
    fold: int
    repeat: int
    run_id: str | None
    state: str
    """The run's state (``completed``, ``failed``, ``stopped``...), or ``running``."""
    balanced_accuracy: float | None = None
    accuracy: float | None = None
    cohen_kappa: float | None = None
    macro_f1: float | None = None
    weighted_f1: float | None = None
    roc_auc: float | None = None
    average_precision: float | None = None
    n_test: int | None = None
    duration: float | None = None
    """Seconds the run took."""
    error: str | None = None


class BenchmarkModelSummary(Shape):
    """One model's balanced accuracy over its completed folds (percent)."""

    label: str
    model: str
    baseline: bool
    n: int
    mean: float
    sd: float | None
    ci_low: float | None
    ci_high: float | None
    sentence: str
    """E.g. ``eegnet: 71.2 ± 4.3 % balanced accuracy (mean ± SD; 95 % CI 68.1 … 74.3) over 10 folds``."""


class BenchmarkComparison(Shape):
    """A model against the best model or the best baseline, paired over the folds both completed."""

    a: str
    b: str
    against: str
    """``best`` or ``best_baseline``."""
    n: int
    mean_difference: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    """``wilcoxon`` (6 folds or more) or ``permutation`` (exact, fewer folds)."""
    verdict: str


class BenchmarkSummary(Shape):
    """The benchmark's table and statistics (balanced accuracy), as written to its files."""

    metric: str
    models: list[BenchmarkModelSummary]
    best: str | None
    best_baseline: str | None
    comparisons: list[BenchmarkComparison]
    files: dict[str, str]
    """``json``, ``csv``, ``markdown``, ``figure``: the outputs in the benchmark's folder."""


class BenchmarkStatus(Shape):
    """``GET /training/benchmark``: the current/last benchmark."""

    benchmark_id: str | None
    state: BenchmarkState
    request: BenchmarkRequest | None
    protocol: str | None
    n_folds: int | None
    """Folds of the protocol on this data (1 for holdout)."""
    n_runs: int
    """Models × folds × repeats."""
    n_finished: int
    folder: str | None
    """Where its outputs go: ``<save_dir>/benchmarks/<benchmark_id>``."""
    started_at: str | None
    finished_at: str | None
    error: str | None
    current_run_id: str | None
    results: list[BenchmarkResult]
    summary: BenchmarkSummary | None
