"""The cost hint: how long a config should take here, from the runs this trainer measured."""

from __future__ import annotations

import html
from typing import Any

from ..config.names import BACKBONE_MODELS

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


def estimate_duration(
    config: dict[str, Any], runs: list[dict[str, Any]]
) -> tuple[float, dict[str, Any]] | None:
    """Seconds a run of ``config`` should take here, from the newest comparable past run.

    Comparable: same ``model``, ``freeze_backbone``, ``device`` and ``precision`` settings, at least one
    epoch timed; a completed run is preferred (a stopped one's duration includes a cut epoch).
    Its set-up (data, model, feature caching) and its mean epoch time are scaled by the number
    of windows; returns ``(seconds, that run's record)`` or None.
    """
    try:
        windows = 2 * int(config["n_samples_per_class"])
        n_epochs = int(config["n_epochs"])
    except (KeyError, TypeError, ValueError):
        return None
    for rec in sorted(runs, key=lambda r: r.get("state") != "completed"):  # stable: newest first within
        past = rec.get("config") or {}
        times = [t for t in rec.get("epoch_times") or [] if isinstance(t, (int, float))]
        duration = rec.get("duration")
        if not times or not isinstance(duration, (int, float)) or not past.get("n_samples_per_class"):
            continue
        if _kind(past) != _kind(config):
            continue
        scale = windows / (2 * past["n_samples_per_class"])
        setup = max(duration - sum(times), 0.0)
        return setup * scale + sum(times) / len(times) * scale * n_epochs, rec
    return None


def cost_html(config: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    """The hint shown beside the presets ("≈ 3.2 min on this machine (from run …)"), or ``""``."""
    estimate = estimate_duration(config, runs)
    if estimate is None:
        return ""
    seconds, rec = estimate
    return (
        f"<span class='eegtrain-muted'>≈ {format_seconds(seconds)} on this machine "
        f"(from run <code>{html.escape(str(rec.get('run_id')))}</code>)</span>"
    )
