"""Runs side by side: the filter and sort of ``GET /training/runs`` and the aligned histories and
config differences of ``GET /training/compare``.

Plain functions over :class:`~.runs.Run` objects; the service picks the runs (from disk and from
memory) and calls them; the handlers only pass the query arguments through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config.training import ModelName, _field_errors
from ..errors import ConfigError, FieldError, NotFound
from ..schemas import AlignedHistory, Comparison, RunRecord, TrainingState, empty_history
from .runs import Run, RunStore

__all__ = ["IGNORED_ARGS", "MAX_COMPARED", "RunQuery", "compare", "compare_runs", "parse_run_ids", "select"]

IGNORED_ARGS = frozenset({"token", "_xsrf"})
"""Query arguments Jupyter itself may add to any URL; never a filter."""
MAX_COMPARED = 20
"""Most runs one comparison takes."""


class RunQuery(BaseModel):
    """Query arguments of ``GET /training/runs`` (all optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: TrainingState | None = Field(None, description="Only runs in this state")
    model: ModelName | None = Field(None, description="Only runs of this model")
    job: str | None = Field(None, max_length=64, description="Only runs of this search or benchmark (its id)")
    sort: Literal["started_at", "best_val_acc", "duration"] = Field(
        "started_at", description="Order by this (runs without a value come last)"
    )
    order: Literal["asc", "desc"] = Field("desc", description="Sort direction")
    limit: int | None = Field(None, ge=1, le=10_000, description="At most this many runs")

    @classmethod
    def parse(cls, args: Mapping[str, str] | None) -> RunQuery:
        """From query arguments (strings); every bad one is a :class:`ConfigError` naming it."""
        data = {k: v for k, v in (args or {}).items() if k not in IGNORED_ARGS}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(
                _field_errors(exc),
                "Invalid query: " + "; ".join(f"{e.field}: {e.message}" for e in _field_errors(exc)),
            ) from None


def select(records: Sequence[RunRecord], query: RunQuery) -> list[RunRecord]:
    """``records`` filtered by state, model and job, sorted (``None`` values last), cut to ``limit``."""
    out = [
        r
        for r in records
        if (query.state is None or r.state is query.state)
        and (query.model is None or r.config.model == query.model)
        and (query.job is None or r.job == query.job)
    ]
    present = [r for r in out if getattr(r, query.sort) is not None]
    missing = [r for r in out if getattr(r, query.sort) is None]
    present.sort(key=lambda r: getattr(r, query.sort), reverse=query.order == "desc")
    out = present + missing
    return out[: query.limit] if query.limit is not None else out


def parse_run_ids(value: str | Sequence[str] | None) -> list[str]:
    """``"a,b,c"`` (or a list) -> unique ids in order; 400 naming ``runs`` when empty or too many."""
    if value is None:
        raise ConfigError.field("runs", "give the run ids to compare, comma-separated")
    parts = value.split(",") if isinstance(value, str) else list(value)
    ids = list(dict.fromkeys(p.strip() for p in parts if p.strip()))
    if not ids:
        raise ConfigError.field("runs", "give at least one run id")
    if len(ids) > MAX_COMPARED:
        raise ConfigError.field("runs", f"at most {MAX_COMPARED} runs at once, not {len(ids)}")
    return ids


def compare(runs: Sequence[Run]) -> Comparison:
    """The runs' histories on one epoch axis, and which config fields differ between them."""
    n_epochs = max((len(r.history["train_losses"]) for r in runs), default=0)
    histories = {}
    for run in runs:
        padded: dict[str, list[float | None]] = {}
        for key in empty_history():
            values: list[float | None] = list(run.history[key])
            padded[key] = values + [None] * (n_epochs - len(values))
        histories[run.run_id] = AlignedHistory(**padded)
    configs = {r.run_id: r.config.model_dump() for r in runs}
    diff: dict[str, dict[str, Any]] = {}
    common: dict[str, Any] = {}
    for field in runs[0].config.model_dump() if runs else {}:
        by_run = {rid: cfg[field] for rid, cfg in configs.items()}
        if len({repr(v) for v in by_run.values()}) > 1:
            diff[field] = by_run
        else:
            common[field] = next(iter(by_run.values()))
    return Comparison(
        run_ids=[r.run_id for r in runs],
        epochs=list(range(1, n_epochs + 1)),
        runs=[r.record() for r in runs],
        histories=histories,
        config_diff=diff,
        config_common=common,
    )


def compare_runs(store: RunStore, current: Run | None, run_ids: str | Sequence[str] | None) -> Comparison:
    """:func:`compare` of the runs ``run_ids`` names: ``current`` (the live run) from memory, the
    others from ``store``.

    Raises
    ------
    ConfigError
        No ids, or too many (field ``runs``).
    NotFound
        An id that is not a recorded run (each named).
    """
    ids = parse_run_ids(run_ids)
    found: dict[str, Run] = {}
    for rid in ids:
        try:
            found[rid] = store.find(rid, current)
        except NotFound:
            continue  # named below, with every other missing id
    missing = [rid for rid in ids if rid not in found]
    if missing:
        raise NotFound(
            f"no such run: {', '.join(missing)}", [FieldError("runs", f"no run {rid!r}") for rid in missing]
        )
    return compare([found[rid] for rid in ids])
