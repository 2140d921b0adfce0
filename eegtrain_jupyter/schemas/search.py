"""``GET /training/search``: a hyper-parameter search, its trials and the best so far."""

from __future__ import annotations

from typing import Any

from ..config.search import SearchRequest
from ..config.training import TrainingConfig
from .base import JobState, Shape

__all__ = ["BestTrial", "SearchState", "SearchStatus", "TrialInfo"]


SearchState = JobState
"""The life cycle of a hyper-parameter search (:class:`~.base.JobState`)."""


class TrialInfo(Shape):
    """One trial: Optuna's state (``running``, ``complete``, ``pruned``, ``fail``) or ours when it
    says more (``stopped`` by the user, ``interrupted`` by a restart); ``value`` is the metric of
    its best epoch (validation split)."""

    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    run_id: str | None
    error: str | None = None


class BestTrial(Shape):
    number: int
    value: float
    params: dict[str, Any]
    run_id: str | None
    config: TrainingConfig
    """The full config of the best trial (``POST /training/start`` it to train it again)."""


class SearchStatus(Shape):
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
