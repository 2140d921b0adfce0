"""A benchmark in a notebook: models, protocol, folds and repeats; progress; the table with its
statistics and the per-fold scores of every model as folds finish.

:class:`BenchmarkView` takes any client with ``start_benchmark(models, config)`` and
``benchmark_status()`` (:class:`~eegtrain_jupyter.client.RemoteClient` or
:class:`~eegtrain_jupyter.client.LocalClient`). The figure is drawn here, with bqplot, from the
status's per-run scores (the PNG in the benchmark's folder is the data worker's copy of it).
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from .style import wrap_row

__all__ = ["DEFAULT_MODELS", "BenchmarkView", "fold_lines"]

DEFAULT_MODELS = "csp_lda, tangent_space_lr, bandpower_lda, eegnet"
"""What the models field starts with: the three baselines and a small network."""

PROTOCOLS = ("cross_subject", "within_subject", "cross_session", "holdout")


def fold_lines(status: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """The labels (request order) and a ``(n_pairs, n_labels)`` array of completed balanced
    accuracies, one row per (repeat, fold), NaN where that model has no score yet."""
    labels = [m["label"] for m in (status.get("request") or {}).get("models", [])]
    scores: dict[tuple[int, int], dict[str, float]] = {}
    for r in status.get("results", []):
        if r["state"] == "completed" and r.get("balanced_accuracy") is not None:
            scores.setdefault((r["repeat"], r["fold"]), {})[r["label"]] = r["balanced_accuracy"]
    rows = [[scores[key].get(label, np.nan) for label in labels] for key in sorted(scores)]
    return labels, np.array(rows, dtype=float).reshape(len(rows), len(labels))


class BenchmarkView:
    """Start and watch a benchmark (see the module docstring).

    Parameters
    ----------
    client : RemoteClient or LocalClient
    base_config : dict or callable, optional
        The (partial) config every model starts from, or a function returning it when a benchmark
        starts (the panel passes its form's values).
    follow : bool
        Poll a started benchmark from a daemon thread of its own until it ends (default). The panel
        passes False and refreshes the view from its one poller instead.
    """

    def __init__(
        self,
        client: Any,
        base_config: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
        *,
        follow: bool = True,
    ):
        self.client = client
        self.base_config = base_config if callable(base_config) else dict(base_config or {})
        self.follow = follow
        self.models = w.Text(value=DEFAULT_MODELS, description="models", layout={"width": "420px"})
        self.protocol = w.Dropdown(options=PROTOCOLS, value="cross_subject", description="protocol")
        self.n_folds = w.BoundedIntText(value=5, min=2, max=100, description="folds")
        self.n_repeats = w.BoundedIntText(value=1, min=1, max=20, description="repeats")
        self.start_button = w.Button(description="Start benchmark", button_style="primary")
        self.stop_button = w.Button(
            description="Stop benchmark",
            icon="stop",
            button_style="danger",
            disabled=True,
            tooltip="End the benchmark: the running fold stops within a batch; finished folds are kept",
        )
        self.progress = w.IntProgress(value=0, min=0, max=1, description="runs")
        self.message = w.HTML()
        self.table = w.HTML()
        xs, ys = bq.OrdinalScale(), bq.LinearScale()
        self.lines = bq.Lines(
            x=[],
            y=np.zeros((0, 0)),
            scales={"x": xs, "y": ys},
            marker="circle",
            colors=["#9e9e9e"],
            opacities=[0.6],
        )
        self.means = bq.Scatter(x=[], y=[], scales={"x": xs, "y": ys}, marker="rectangle", colors=["#1f77b4"])
        self.figure = bq.Figure(
            marks=[self.lines, self.means],
            title="Balanced accuracy per fold (lines join one fold)",
            animation_duration=0,
            axes=[
                bq.Axis(scale=xs, label="model", side="bottom"),
                bq.Axis(scale=ys, label="balanced accuracy (%)", side="left"),
            ],
            layout={"width": "480px", "max_width": "100%", "height": "300px"},
        )
        self.status: dict[str, Any] | None = None
        self._refresh_lock = threading.Lock()
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.widget = w.VBox(
            [
                wrap_row([self.models, self.protocol, self.n_folds, self.n_repeats]),
                wrap_row([self.start_button, self.stop_button]),
                self.progress,
                self.message,
                wrap_row([self.figure, self.table], align_items="flex-start"),
            ]
        )
        self.refresh()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def start(self) -> dict[str, Any] | None:
        """Start a benchmark of the models field's names on the base config; errors (each field
        named) go to the message line."""
        base = dict(self.base_config() if callable(self.base_config) else self.base_config)
        evaluation = {"protocol": self.protocol.value, "n_repeats": int(self.n_repeats.value)}
        if self.protocol.value in ("cross_subject", "within_subject"):
            evaluation["n_folds"] = int(self.n_folds.value)
        base["evaluation"] = evaluation
        names = [m.strip() for m in self.models.value.split(",") if m.strip()]
        try:
            status = self.client.start_benchmark(names, base)
        except Exception as exc:
            fields = "; ".join(f"{e.field}: {e.message}" for e in getattr(exc, "errors", []))
            self.message.value = f"<span style='color:#c62828'>{html.escape(fields or str(exc))}</span>"
            return None
        self._show(status)
        if self.follow:
            threading.Thread(target=self._follow, daemon=True, name="benchmark-view").start()
        return status

    def stop(self) -> dict[str, Any] | None:
        """End the running benchmark (the trainer's Stop)."""
        try:
            self.client.stop()
        except Exception as exc:
            self.message.value = f"<span style='color:#c62828'>{html.escape(str(exc))}</span>"
            return None
        return self.refresh()

    @property
    def running(self) -> bool:
        """Whether the benchmark shown is still going (a follower should refresh it)."""
        return self.status is not None and self.status["state"] in ("running", "stopping")

    def _follow(self, interval: float = 1.0) -> None:
        while self.running:
            time.sleep(interval)
            self.refresh()

    def refresh(self) -> dict[str, Any] | None:
        """Fetch and show the benchmark's status (under one lock: never an older over a newer)."""
        with self._refresh_lock:
            try:
                status = self.client.benchmark_status()
            except Exception as exc:
                self.message.value = f"<span style='color:#c62828'>{html.escape(str(exc))}</span>"
                return None
            self._show(status)
            return status

    def _show(self, status: dict[str, Any]) -> None:
        self.status = status
        self.progress.max = max(1, int(status["n_runs"]))
        self.progress.value = status["n_finished"]
        running = self.running
        self.start_button.disabled = running
        self.stop_button.disabled = not running or status["state"] == "stopping"
        if status.get("benchmark_id") is None:
            self.message.value = (
                "<span style='color:gray'>no benchmark yet: the Train tab's form is every model's "
                "base config; name the models, then Start benchmark</span>"
            )
        else:
            error = f" ({html.escape(status['error'])})" if status.get("error") else ""
            self.message.value = (
                f"benchmark <b>{html.escape(str(status['benchmark_id']))}</b>: {status['state']}{error} — "
                f"{status['protocol']}, {status['n_folds']} fold(s), {status['n_finished']} of "
                f"{status['n_runs']} runs; outputs in <code>{html.escape(str(status['folder']))}</code>"
            )
        labels, rows = fold_lines(status)
        with self.lines.hold_sync(), self.means.hold_sync():
            self.lines.x, self.lines.y = labels, rows
            summary = status.get("summary") or {}
            means = {m["label"]: m["mean"] for m in summary.get("models", [])}
            shown = [label for label in labels if label in means]
            self.means.x, self.means.y = shown, np.array([means[label] for label in shown], dtype=float)
        self.table.value = self._table(summary)

    @staticmethod
    def _table(summary: dict[str, Any]) -> str:
        if not summary.get("models"):
            return "<span style='color:gray'>the table appears when a fold has finished</span>"
        rows = "".join(
            f"<tr><td>{html.escape(m['label'])}{' (baseline)' if m['baseline'] else ''}</td>"
            f"<td>{m['n']}</td><td>{m['mean']:.1f}"
            + (f" ± {m['sd']:.1f}" if m["sd"] is not None else "")
            + "</td><td>"
            + (f"{m['ci_low']:.1f} … {m['ci_high']:.1f}" if m["ci_low"] is not None else "–")
            + "</td></tr>"
            for m in summary["models"]
        )
        head = "<tr><th>model</th><th>folds</th><th>balanced accuracy %</th><th>95 % CI</th></tr>"
        verdicts = "".join(f"<li>{html.escape(c['verdict'])}</li>" for c in summary.get("comparisons", []))
        return f"<table>{head}{rows}</table>" + (f"<ul>{verdicts}</ul>" if verdicts else "")
