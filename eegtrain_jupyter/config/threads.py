"""Defaults of the worker's thread knobs, read from the environment (see :mod:`~..runtime.tuning`
for what each does): ``EEGTRAIN_NUM_THREADS``, ``EEGTRAIN_NICE``, ``EEGTRAIN_SWITCH_INTERVAL_MS``.
Light, so the server extension's traits can default to them."""

from __future__ import annotations

import logging
import os

__all__ = ["default_nice", "default_num_threads", "default_switch_interval_ms"]

log = logging.getLogger(__name__)


def _env_int(name: str, default: int | None) -> int | None:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "auto"):
        return default
    try:
        return int(raw)
    except ValueError:
        log.warning("ignoring %s=%r (not an integer)", name, raw)
        return default


def _auto_threads() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def default_num_threads() -> int:
    """``EEGTRAIN_NUM_THREADS``, else the usable cores minus one (0 means torch's own choice)."""
    return _env_int("EEGTRAIN_NUM_THREADS", _auto_threads()) or 0


def default_nice() -> int:
    """``EEGTRAIN_NICE``, else 5."""
    return _env_int("EEGTRAIN_NICE", 5) or 0


def default_switch_interval_ms() -> int:
    """``EEGTRAIN_SWITCH_INTERVAL_MS``, else 1."""
    return _env_int("EEGTRAIN_SWITCH_INTERVAL_MS", 1) or 0
