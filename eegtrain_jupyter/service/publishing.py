"""Publishing a completed run: its files replace the top-level set in ``save_dir``, as one set.

A kill at any moment leaves either the old set or the new one: the copies are staged beside
their targets, a marker (:data:`PUBLISH_MARKER`) then lists them, and only then does each replace
its target; :func:`complete_publish` finishes what a marker lists (recovery calls it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .. import files
from ..engine import artifacts
from ..serving.model_card import MODEL_CARD_NAMES

if TYPE_CHECKING:
    from .runs import Run

__all__ = ["PUBLISH_MARKER", "complete_publish", "publish"]

PUBLISH_MARKER = ".eegtrain-publish.json"
"""In ``save_dir`` while a run's files replace the top-level set: recovery completes what it lists."""


def publish(run: Run) -> dict[str, str]:
    """Replace the top-level files in ``save_dir`` by ``run``'s, as one set (a checkpoint under
    the other name, from an earlier run on other data, goes with the old set).

    Each file is first copied beside its target; a marker then lists the copies; then each
    replaces its target. A crash before the marker leaves the old set (the copies are
    orphans, removed on recovery); after it, recovery completes the new set.
    """
    staged: dict[str, str] = {}
    for name in (*artifacts.OUTPUT_NAMES, *MODEL_CARD_NAMES):
        src = run.run_dir / name
        if src.exists():
            tmp = run.save_dir / f"{files.temp_prefix(name)}publish-{run.run_id}.tmp"
            _copy_synced(src, tmp)
            staged[name] = tmp.name
    marker = run.save_dir / PUBLISH_MARKER
    files.write_json(marker, {"run_id": run.run_id, "staged": staged})
    published = complete_publish(run.save_dir)
    return published


def complete_publish(save_dir: Path) -> dict[str, str]:
    """Finish the publish a marker in ``save_dir`` describes; return the files it put in place."""
    marker = save_dir / PUBLISH_MARKER
    try:
        staged = files.read_json(marker)["staged"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    published = {}
    for name, tmp_name in staged.items():
        tmp, target = save_dir / tmp_name, save_dir / name
        if tmp.exists():
            os.replace(tmp, target)
        if target.exists():
            published[name] = str(target)
    if any(name in staged for name in artifacts.CHECKPOINT_NAMES):  # the set has one checkpoint
        for name in artifacts.CHECKPOINT_NAMES:
            if name not in staged:
                (save_dir / name).unlink(missing_ok=True)
    files.fsync_dir(save_dir)
    marker.unlink(missing_ok=True)
    files.fsync_dir(save_dir)
    return published


def _copy_synced(src: Path, dst: Path) -> None:
    import shutil

    shutil.copyfile(src, dst)
    os.chmod(dst, os.stat(src).st_mode & 0o777)
    with open(dst, "rb") as fh:
        os.fsync(fh.fileno())
