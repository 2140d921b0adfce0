"""Response shapes: one pydantic model per fact the trainer reports.

The service builds these, the REST handlers serialise them (``model_dump(mode="json")``), the
in-process client returns the same dicts, and the OpenAPI document is generated from them. There
is no second, hand-written copy of any shape.

=================  =======================================================================
``base``           :class:`Shape`, the run life cycle, error bodies
``data``           the validation answer and its data scan
``run``            a run's status, history and record (one shared :class:`RunOutcome`)
``compare``        runs side by side
``search``         a hyper-parameter search
``benchmark``      a benchmark: models × folds × repeats, its scores and statistics
``serving``        using a trained run: detail, prediction, evaluation, export
=================  =======================================================================
"""

from __future__ import annotations

from pydantic import BaseModel

from ..config.benchmark import BenchmarkRequest
from ..config.search import SearchRequest
from .base import ErrorBody, FieldErrorBody, JobState, Shape, TrainingState
from .benchmark import (
    BENCHMARK_METRICS,
    BenchmarkComparison,
    BenchmarkModelSummary,
    BenchmarkResult,
    BenchmarkState,
    BenchmarkStatus,
    BenchmarkSummary,
)
from .compare import AlignedHistory, Comparison
from .data import DataSummary, FileSummary, ValidationBody
from .run import (
    BENCHMARK_PREFIX,
    SEARCH_PREFIX,
    Backbone,
    BackboneLoad,
    BatchProgress,
    ClassScores,
    CoreStatus,
    History,
    Metrics,
    RunOutcome,
    RunRecord,
    Runs,
    Status,
    SubjectScores,
    TestReport,
    empty_history,
    run_kind,
)
from .search import BestTrial, SearchState, SearchStatus, TrialInfo
from .serving import (
    Deleted,
    EvaluateRequest,
    Evaluation,
    ExportRequest,
    ExportResult,
    Parity,
    Prediction,
    PredictRequest,
    RunDetail,
)

__all__ = [
    "BENCHMARK_METRICS",
    "BENCHMARK_PREFIX",
    "REQUEST_MODELS",
    "RESPONSE_MODELS",
    "SEARCH_PREFIX",
    "AlignedHistory",
    "Backbone",
    "BackboneLoad",
    "BatchProgress",
    "BenchmarkComparison",
    "BenchmarkModelSummary",
    "BenchmarkResult",
    "BenchmarkState",
    "BenchmarkStatus",
    "BenchmarkSummary",
    "BestTrial",
    "ClassScores",
    "Comparison",
    "CoreStatus",
    "DataSummary",
    "Deleted",
    "ErrorBody",
    "EvaluateRequest",
    "Evaluation",
    "ExportRequest",
    "ExportResult",
    "FieldErrorBody",
    "FileSummary",
    "History",
    "JobState",
    "Metrics",
    "Parity",
    "PredictRequest",
    "Prediction",
    "RunDetail",
    "RunOutcome",
    "RunRecord",
    "Runs",
    "SearchState",
    "SearchStatus",
    "Shape",
    "Status",
    "SubjectScores",
    "TestReport",
    "TrainingState",
    "TrialInfo",
    "ValidationBody",
    "empty_history",
    "run_kind",
]

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
        BenchmarkStatus,
        RunDetail,
        Prediction,
        Evaluation,
        ExportResult,
        Parity,
        Deleted,
    )
}
"""Response models by schema name (the OpenAPI document and the tests use them)."""

REQUEST_MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m for m in (SearchRequest, BenchmarkRequest, PredictRequest, EvaluateRequest, ExportRequest)
}
"""Request bodies other than the config, by schema name (in the OpenAPI document)."""
