"""The kernel's one poller thread and its registry of open panels.

Every open :class:`~.panel.TrainingPanel` of this kernel is polled by one daemon thread, each at
its own interval, so the kernel's main thread stays free (Stop always answers) and re-running a
panel cell never piles up threads. The thread ends when the last panel is removed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Protocol

import ipywidgets as w

__all__ = ["POLLER", "POLLER_THREAD_NAME", "Polled", "SharedPoller", "open_panels", "widget_tree"]

POLLER_THREAD_NAME = "eegtrain-panel-poller"


class Polled(Protocol):
    """What the poller needs from a panel."""

    poll_interval: float
    _next_poll: float

    def _poll_once(self) -> None: ...


class SharedPoller:
    """One daemon thread that polls every open panel of this kernel, each at its own interval."""

    def __init__(self):
        self._lock = threading.Lock()
        self._panels: list = []
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def add(self, panel: Polled) -> None:
        with self._lock:
            self._panels.append(panel)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=POLLER_THREAD_NAME, daemon=True)
                self._thread.start()
        self._wake.set()

    def remove(self, panel: Polled) -> None:
        with self._lock:
            if panel in self._panels:
                self._panels.remove(panel)
        self._wake.set()

    def panels(self) -> list:
        with self._lock:
            return list(self._panels)

    def polls(self, panel: Polled) -> bool:
        with self._lock:
            return panel in self._panels and self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._lock:
                panels = list(self._panels)
                if not panels:
                    self._thread = None  # the next add() starts a new thread
                    return
            for panel in panels:
                if panel._next_poll <= time.monotonic():
                    panel._poll_once()
                    panel._next_poll = time.monotonic() + panel.poll_interval
            wait = min(p._next_poll for p in panels) - time.monotonic()
            self._wake.wait(min(max(wait, 0.01), 1.0))
            self._wake.clear()


POLLER = SharedPoller()
"""This kernel's poller."""


def open_panels() -> list:
    """The panels of this kernel that are open (not closed), oldest first."""
    return POLLER.panels()


def _widgets_in(value) -> Iterator[w.Widget]:
    if isinstance(value, w.Widget):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _widgets_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _widgets_in(item)


def widget_tree(*roots: w.Widget) -> Iterator[w.Widget]:
    """Every widget model reachable from ``roots`` through their synced traits (children, layout,
    style, marks, axes, scales, ...), each once: what closing a panel must close."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        yield widget
        for name in widget.keys:
            try:
                value = getattr(widget, name)
            except AttributeError:  # a synced name without a value on this widget
                continue
            stack.extend(_widgets_in(value))
