"""The cost hint: how long a config should take here, from the runs this trainer measured."""

from __future__ import annotations

import html
import json
from collections.abc import Collection
from typing import Any

from ..config.names import BACKBONE_MODELS
from .records import run_kind

__all__ = ["cost_html", "estimate_duration", "format_seconds"]


def format_seconds(s: float) -> str:
    """``45 s``, ``12.5 min``, ``2.0 h``."""
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _kind(config: dict[str, Any]) -> tuple:
    """What makes runs comparable in time; a field left out (a model-only field of another model)
    counts as the trainer's default for it."""
    model = config.get("model") or "labram"
    freeze = bool(
        config.get("freeze_backbone", model in BACKBONE_MODELS)
    )  # every foundation model starts frozen
    return model, freeze, config.get("device"), config.get("precision")


def _windows(config: dict[str, Any]) -> tuple[str, float] | None:
    """What sizes a run's data: ``("synthetic", windows)`` for the generator, else the data section
    itself (as JSON; one window count: the same recordings take the same time)."""
    data = config.get("data") or {}
    if not isinstance(data, dict) or data.get("source", "synthetic") == "synthetic":
        try:
            return "synthetic", 2.0 * int(config["n_samples_per_class"])
        except (KeyError, TypeError, ValueError):
            return None
    return json.dumps(_with_defaults(data), sort_keys=True), 1.0


def _with_defaults(data: dict[str, Any]) -> Any:
    """The data section with every default filled in (a form's section names fewer keys than a run's
    record), or as given when it is not valid."""
    from pydantic import TypeAdapter, ValidationError

    from ..config.data import DataSource

    try:
        return TypeAdapter(DataSource).validate_python(data).model_dump(mode="json")
    except ValidationError:
        return data


def estimate_duration(
    config: dict[str, Any], runs: list[dict[str, Any]], trial_ids: Collection[str] = ()
) -> tuple[float, dict[str, Any]] | None:
    """Seconds a run of ``config`` should take here, from the newest comparable past run.

    Comparable: a plain run (not a search trial or a benchmark fold, :func:`~.records.run_kind`;
    ``trial_ids`` names a search's runs), same ``model``, ``freeze_backbone``, ``device`` and
    ``precision`` settings, the same data source (synthetic, or the same recordings), at least one
    epoch timed; a completed run is preferred (a stopped one's duration includes a cut epoch). Its
    set-up (data, model, feature caching) and its mean epoch time are scaled by the number of
    synthetic windows; returns ``(seconds, that run's record)`` or None.
    """
    size = _windows(config)
    try:
        n_epochs = int(config.get("n_epochs", 1))
    except (TypeError, ValueError):
        return None
    if size is None:
        return None
    for rec in sorted(runs, key=lambda r: r.get("state") != "completed"):  # stable: newest first within
        if run_kind(rec, trial_ids) != "run":
            continue
        past = rec.get("config") or {}
        past_size = _windows(past)
        times = [t for t in rec.get("epoch_times") or [] if isinstance(t, (int, float))]
        duration = rec.get("duration")
        if not times or not isinstance(duration, (int, float)) or past_size is None:
            continue
        if _kind(past) != _kind(config) or past_size[0] != size[0]:
            continue
        scale = size[1] / past_size[1]
        setup = max(duration - sum(times), 0.0)
        return setup * scale + sum(times) / len(times) * scale * n_epochs, rec
    return None


def cost_html(config: dict[str, Any], runs: list[dict[str, Any]], trial_ids: Collection[str] = ()) -> str:
    """The hint shown beside Start ("≈ 3.2 min on this machine (from run …)"), or ``""``."""
    estimate = estimate_duration(config, runs, trial_ids)
    if estimate is None:
        return ""
    seconds, rec = estimate
    return (
        f"<span class='eegtrain-muted'>≈ {format_seconds(seconds)} on this machine "
        f"(from run <code>{html.escape(str(rec.get('run_id')))}</code>)</span>"
    )
