"""Defaults read from the environment, so the server extension's traits (and the CLI) can default
to them: the training worker's thread knobs (``EEGTRAIN_NUM_THREADS``, ``EEGTRAIN_NICE``,
``EEGTRAIN_SWITCH_INTERVAL_MS``; see :mod:`~..runtime.tuning` for what each does) and the data
worker's limits (``EEGTRAIN_DATA_TIMEOUT_S``, ``EEGTRAIN_DATA_MEMORY_MB``,
``EEGTRAIN_DATA_WORKERS``; see :mod:`~..runtime.dataworker`); and the Hugging Face hub settings
(``HF_*``) the processes that fetch pretrained weights use (:func:`hub_environment`)."""

from __future__ import annotations

import logging
import os

__all__ = [
    "DATA_MEMORY_MB",
    "DATA_TIMEOUT_S",
    "DATA_WORKERS",
    "default_data_memory_mb",
    "default_data_timeout_s",
    "default_data_workers",
    "default_nice",
    "default_num_threads",
    "default_switch_interval_ms",
    "hub_environment",
]

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


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        log.warning("ignoring %s=%r (not a number)", name, raw)
        return default
    return value if value > 0 else default


DATA_TIMEOUT_S = 120.0
"""Seconds one read of user data may take (many long recordings on a cold cache take tens)."""
DATA_MEMORY_MB = 4096.0
"""Memory a data-worker process may add to what it holds at its start (windows, a loaded model)."""
DATA_WORKERS = 2
"""Data-worker processes, i.e. reads of user data at once."""


def default_data_timeout_s() -> float:
    """``EEGTRAIN_DATA_TIMEOUT_S``, else :data:`DATA_TIMEOUT_S`."""
    return _env_float("EEGTRAIN_DATA_TIMEOUT_S", DATA_TIMEOUT_S)


def default_data_memory_mb() -> float:
    """``EEGTRAIN_DATA_MEMORY_MB``, else :data:`DATA_MEMORY_MB`."""
    return _env_float("EEGTRAIN_DATA_MEMORY_MB", DATA_MEMORY_MB)


def default_data_workers() -> int:
    """``EEGTRAIN_DATA_WORKERS``, else :data:`DATA_WORKERS`."""
    return max(1, _env_int("EEGTRAIN_DATA_WORKERS", DATA_WORKERS) or DATA_WORKERS)


HUB_SETTINGS = ("HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE")
"""The ``huggingface_hub`` settings a fetch of pretrained weights reads (see
:mod:`~..models.pretrained`)."""


def hub_environment() -> dict[str, str]:
    """The :data:`HUB_SETTINGS` of this process's environment now: the data worker's processes
    outlive changes to it, so the service hands them over with each check of ``pretrained_weights``."""
    return {name: os.environ[name] for name in HUB_SETTINGS if name in os.environ}
