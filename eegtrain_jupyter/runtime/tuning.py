"""Thread settings for a training thread that shares its process with an event loop.

The Jupyter server answers REST calls on one IO-loop thread while training runs in a
background thread of the same process. Torch's intra-op pool would otherwise take every
core (and on a busy machine its spinning workers starve the loop), so the training thread
lowers its own scheduling priority and, optionally, the number of torch threads. Both are
set from the environment so they reach the server without code changes:

``EEGTRAIN_NUM_THREADS``
    Torch intra-op threads for training; ``auto`` (default) uses the usable cores minus
    one (at least one), leaving a core to the IO loop; ``0`` leaves torch's own choice; an
    integer sets it (process-wide: torch has one intra-op pool per process).
``EEGTRAIN_NICE``
    Niceness added to the training thread and the worker threads it starts (default 5;
    0 disables). Linux/macOS only; ignored elsewhere.
``EEGTRAIN_SWITCH_INTERVAL_MS``
    Upper bound for the interpreter's GIL switch interval (default 1 ms; Python's own is 5).
    LaBraM's many small ops keep the training thread in Python much of the time, and every
    hand-over of the GIL to the IO loop (or its executor) could otherwise wait a full interval.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping

from ..config.env import default_nice, default_num_threads, default_switch_interval_ms

__all__ = [
    "configure_training_thread",
    "default_nice",
    "default_num_threads",
    "default_switch_interval_ms",
    "resolve_thread_settings",
]

log = logging.getLogger(__name__)


def configure_training_thread(
    num_threads: int | None = None, nice: int | None = None, switch_interval_ms: int | None = None
) -> dict[str, float]:
    """Apply thread count, niceness and GIL switch interval for the calling (training) thread.

    Parameters
    ----------
    num_threads : int, optional
        Torch intra-op threads (0: torch's choice); default :func:`default_num_threads`.
    nice : int, optional
        Niceness increment for this thread (0: none); default :func:`default_nice`.
    switch_interval_ms : int, optional
        Upper bound of the interpreter's switch interval (0: unchanged); default
        :func:`default_switch_interval_ms`.

    Returns
    -------
    dict
        What is in effect: ``num_threads``, ``nice``, ``switch_interval_ms``.
    """
    import torch

    num_threads = default_num_threads() if num_threads is None else num_threads
    nice = default_nice() if nice is None else nice
    switch_ms = default_switch_interval_ms() if switch_interval_ms is None else switch_interval_ms
    if switch_ms > 0:
        sys.setswitchinterval(min(sys.getswitchinterval(), switch_ms / 1000))
    if num_threads > 0:
        torch.set_num_threads(num_threads)
    if nice and hasattr(os, "setpriority"):
        tid = threading.get_native_id()
        try:  # per-thread on Linux; threads started later (torch's pool) inherit it
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
        except OSError as exc:
            log.debug("could not renice the training thread: %s", exc)
    return {
        "num_threads": torch.get_num_threads(),
        "nice": nice,
        "switch_interval_ms": sys.getswitchinterval() * 1000,
    }


def resolve_thread_settings(settings: Mapping[str, int | None] | None) -> dict[str, int] | None:
    """``settings`` with each missing value read from its ``EEGTRAIN_*`` default, here and now.

    The training worker applies the result: it runs in another process, whose environment may be
    older than this one's.
    """
    if settings is None:
        return None
    defaults = {
        "num_threads": default_num_threads,
        "nice": default_nice,
        "switch_interval_ms": default_switch_interval_ms,
    }
    return {
        name: value if (value := settings.get(name)) is not None else default()
        for name, default in defaults.items()
    }
