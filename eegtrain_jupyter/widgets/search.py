"""A hyper-parameter search in a notebook: a space editor, the number of trials, progress, the
best-so-far curve, the trials table and "apply best config".

:class:`SearchView` takes any client with ``start_search(request)`` and ``search_status()``
(:class:`~eegtrain_jupyter.client.RemoteClient` or :class:`~eegtrain_jupyter.client.LocalClient`).
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from .records import data_text
from .style import wrap_row

__all__ = ["DEFAULT_SPACE", "SearchView", "best_so_far", "rounded", "trial_ticks"]

DEFAULT_SPACE = {
    "learning_rate": {"low": 0.0001, "high": 0.01, "log": True},
    "weight_decay": {"low": 0.0, "high": 0.001},
}
"""What the editor starts with: a head-only search over the optimiser."""


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def rounded(value: Any, digits: int = 3) -> Any:
    """``value`` to ``digits`` significant digits when it is a float (others as they are)."""
    if isinstance(value, float) and np.isfinite(value) and value != 0:
        return float(f"{value:.{digits}g}")
    return value


def trial_ticks(numbers: np.ndarray, most: int = 10) -> list[int]:
    """Whole trial numbers to tick, at most ``most`` of them, spanning ``numbers``."""
    if len(numbers) == 0:
        return []
    low, high = int(np.min(numbers)), int(np.max(numbers))
    step = max(1, int(np.ceil((high - low + 1) / most)))
    return list(range(low, high + 1, step))


def best_so_far(trials: list[dict[str, Any]], maximize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(trial numbers, best value up to each)`` over the completed trials, in trial order."""
    done = sorted(
        (t["number"], t["value"]) for t in trials if t["state"] == "complete" and t["value"] is not None
    )
    if not done:
        return np.zeros(0), np.zeros(0)
    values = np.array([v for _, v in done], dtype=float)
    best = np.maximum.accumulate(values) if maximize else np.minimum.accumulate(values)
    return np.array([n for n, _ in done], dtype=float), best


class SearchView:
    """Start and watch a search; "Apply best config" hands the best trial's config to ``on_apply``.

    Parameters
    ----------
    client : RemoteClient or LocalClient
    base_config : dict or callable, optional
        The (partial) config every trial starts from, or a function returning it when a search
        starts (the panel passes its form's values).
    on_apply : callable, optional
        Called with the best trial's full config.
    follow : bool
        Poll a started search from a daemon thread of its own until it ends (default). The panel
        passes False and refreshes the view from its one poller instead.
    """

    def __init__(
        self,
        client: Any,
        base_config: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
        on_apply: Callable[[dict[str, Any]], None] | None = None,
        *,
        follow: bool = True,
    ):
        self.client = client
        self.base_config = base_config if callable(base_config) else dict(base_config or {})
        self.on_apply = on_apply
        self.follow = follow
        self.space = w.Textarea(
            value=json.dumps(DEFAULT_SPACE, indent=1),
            description="space",
            layout={"width": "auto", "max_width": "520px", "height": "120px"},
        )
        self.n_trials = w.BoundedIntText(value=10, min=1, max=1000, description="trials")
        self.n_trials.add_class("eegtrain-search-trials")
        self.start_button = w.Button(description="Start search", button_style="primary")
        self.stop_button = w.Button(
            description="Stop search",
            icon="stop",
            button_style="danger",
            disabled=True,
            tooltip="End the search: the running trial stops within a batch; finished trials are kept",
        )
        self.stop_button.add_class("eegtrain-search-stop")
        self.apply_button = w.Button(
            description="Apply best config",
            disabled=True,
            tooltip="Fill the Train tab's form with the best trial's config (searched values rounded)",
        )
        self.progress = w.IntProgress(value=0, min=0, max=1, description="trials")
        self.message = w.HTML()
        self.message.add_class("eegtrain-search-message")
        self.trials = w.HTML()
        xs, ys = bq.LinearScale(), bq.LinearScale()
        self.best_line = bq.Lines(
            x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": ys}, marker="circle", colors=["#2ca02c"]
        )
        self.figure = bq.Figure(
            marks=[self.best_line],
            title="Best so far",
            animation_duration=0,
            axes=[
                bq.Axis(scale=xs, label="trial", tick_format="d", side="bottom"),
                bq.Axis(scale=ys, label="value", side="left"),
            ],
            layout={"width": "440px", "max_width": "100%", "height": "260px"},
        )
        self.status: dict[str, Any] | None = None
        self._refresh_lock = threading.Lock()
        self.start_button.on_click(lambda _: self.start())
        self.apply_button.on_click(lambda _: self.apply_best())
        self.stop_button.on_click(lambda _: self.stop())
        self.widget = w.VBox(
            [
                self.space,
                wrap_row([self.n_trials, self.start_button, self.stop_button, self.apply_button]),
                self.progress,
                self.message,
                wrap_row([self.figure, self.trials], align_items="flex-start"),
            ]
        )
        self.refresh()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def start(self) -> dict[str, Any] | None:
        """Start a search with the editor's space; errors (each field named) go to the message line."""
        try:
            space = json.loads(self.space.value)
        except ValueError as exc:
            self.message.value = (
                f"<span style='color:#c62828'>space is not JSON: {html.escape(str(exc))}</span>"
            )
            return None
        base = self.base_config() if callable(self.base_config) else self.base_config
        try:
            status = self.client.start_search(
                {"config": dict(base), "space": space, "n_trials": int(self.n_trials.value)}
            )
        except Exception as exc:
            fields = "; ".join(f"{e.field}: {e.message}" for e in getattr(exc, "errors", []))
            self.message.value = f"<span style='color:#c62828'>{html.escape(fields or str(exc))}</span>"
            return None
        self._show(status)
        if self.follow:
            threading.Thread(target=self._follow, daemon=True, name="search-view").start()
        return status

    def stop(self) -> dict[str, Any] | None:
        """End the running search (the trainer's Stop: its running trial is marked stopped)."""
        try:
            self.client.stop()
        except Exception as exc:
            self.message.value = f"<span style='color:#c62828'>{html.escape(str(exc))}</span>"
            return None
        return self.refresh()

    @property
    def running(self) -> bool:
        """Whether the search shown is still going (a follower should refresh it)."""
        return self.status is not None and self.status["state"] in ("running", "stopping")

    def _follow(self, interval: float = 1.0) -> None:
        while self.running:
            time.sleep(interval)
            self.refresh()

    def refresh(self) -> dict[str, Any] | None:
        """Fetch and show the search's status (fetch and show under one lock, so the follower
        thread never draws an older status over a newer one)."""
        with self._refresh_lock:
            try:
                status = self.client.search_status()
            except Exception as exc:
                self.message.value = f"<span style='color:#c62828'>{html.escape(str(exc))}</span>"
                return None
            self._show(status)
            return status

    def _show(self, status: dict[str, Any]) -> None:
        self.status = status
        request = status.get("request") or {}
        trials = status["trials"]
        self.progress.max = max(1, int(request.get("n_trials") or 1))
        self.progress.value = status["n_finished"]
        x, y = best_so_far(trials, status.get("direction") != "minimize")
        with self.best_line.hold_sync():
            self.best_line.x, self.best_line.y = x, y
        self.figure.axes[0].tick_values = trial_ticks(x)
        best = status.get("best")
        running = self.running
        self.apply_button.disabled = best is None
        self.start_button.disabled = running
        self.start_button.tooltip = "a search is running: Stop it first" if running else "Start a search"
        self.stop_button.disabled = not running or status["state"] == "stopping"
        if status.get("search_id") is None:
            self.message.value = (
                "<span style='color:gray'>no search yet: edit the space, then Start search</span>"
            )
        else:
            config = request.get("config") or {}
            what = f" — {config.get('model', 'labram')} on {data_text(config)}" if config else ""
            self.message.value = (
                f"search <b>{html.escape(str(status['search_id']))}</b>: {status['state']}"
                + html.escape(what)
                + (f" — best trial {best['number']}: {best['value']:.4g}" if best else "")
            )
        rows = "".join(
            f"<tr><td>{t['number']}</td><td>{t['state']}</td><td>{_fmt(t['value'])}</td>"
            f"<td><code>{html.escape(json.dumps({k: rounded(v) for k, v in t['params'].items()}))}</code></td></tr>"
            for t in trials
        )
        head = "<tr><th>#</th><th>state</th><th>value</th><th>params</th></tr>"
        self.trials.value = f"<table>{head}{rows}</table>"

    def apply_best(self) -> dict[str, Any] | None:
        """The best trial's full config, its searched values rounded as the table shows them,
        handed to ``on_apply``."""
        best = (self.status or {}).get("best")
        if best is None:
            return None
        config = dict(best["config"])
        for name in best.get("params") or {}:
            if name in config:
                config[name] = rounded(config[name])
        if self.on_apply is not None:
            self.on_apply(config)
        return config
