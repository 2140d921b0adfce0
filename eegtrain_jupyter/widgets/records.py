"""What the panel reads from a run record in more than one place: its kind (a plain run, a search
trial, a benchmark fold), its data in a few words and a short form of the paths it names."""

from __future__ import annotations

import html
from collections.abc import Collection
from pathlib import PurePath
from typing import Any

from .. import schemas

__all__ = ["RUN_KINDS", "data_text", "path_html", "run_kind"]

RUN_KINDS = ("run", "trial", "fold")
"""What a run was started as: by Start (or the REST API), by a hyper-parameter search, by a
benchmark's cross-validation."""


def run_kind(run: dict[str, Any], trial_ids: Collection[str] = ()) -> str:
    """The kind of ``run``: ``trial`` or ``fold`` by the job that started it (its record's ``job``,
    :func:`~eegtrain_jupyter.schemas.run_kind`), ``trial`` for the run ids a search names
    (``trial_ids``: a record kept from before runs recorded their job), else ``run``."""
    job = run.get("job")
    kind = schemas.run_kind(job if isinstance(job, str) else None)
    if kind != "run":
        return kind
    return "trial" if run.get("run_id") in trial_ids else "run"


def path_html(path: str, keep: int = 2) -> str:
    """``path`` as its last ``keep`` parts in ``<code>`` (``…/runs/20250101-1200``), the whole path
    in its tooltip: a line of outputs stays readable."""
    parts = PurePath(path).parts
    short = path if len(parts) <= keep + 1 else "…/" + "/".join(parts[-keep:])
    return f"<code title='{html.escape(path, quote=True)}'>{html.escape(short)}</code>"


def data_text(config: dict[str, Any]) -> str:
    """A few words for a run's data: ``synthetic (100/class)``, the files' first pattern, an epochs file."""
    data = config.get("data") or {}
    source = data.get("source", "synthetic") if isinstance(data, dict) else "synthetic"
    if source == "synthetic":
        n = config.get("n_samples_per_class")
        return f"synthetic ({n}/class)" if n else "synthetic"
    if source == "files":
        paths = [str(p) for p in data.get("paths") or []]
        more = f" +{len(paths) - 1}" if len(paths) > 1 else ""
        return (paths[0] + more) if paths else "files"
    return PurePath(str(data.get("path") or source)).name
