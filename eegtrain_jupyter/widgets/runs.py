"""Runs side by side in a notebook: a selectable runs table, their validation curves overlaid in
bqplot figures (one colour per run, legend with run ids) and their config differences.

:class:`RunsView` takes any client with ``runs(**query)`` and ``compare(ids)``
(:class:`~eegtrain_jupyter.client.RemoteClient` or :class:`~eegtrain_jupyter.client.LocalClient`).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from ..config.training import MODEL_NAMES
from .plots import epoch_ticks
from .style import wrap_row

__all__ = ["PALETTE", "RunsView", "overlay_lines"]

PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]
"""One colour per compared run, in selection order."""


def _row_label(run: dict[str, Any]) -> str:
    acc = run.get("best_val_acc")
    dur = run.get("duration")
    model = run.get("model") or run["config"].get("model", "?")
    return (
        f"{run['run_id']}  {run['state']:<11} {model:<13} "
        f"lr {run['config']['learning_rate']:.2g}  val {'-' if acc is None else f'{acc:.1f}%'}  "
        f"{'-' if dur is None else f'{dur:.0f}s'}"
    )


def overlay_lines(comparison: dict[str, Any], metric: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(x (n_epochs,), y (n_runs, n_epochs) with NaN for missing epochs, labels)`` of ``metric``
    (e.g. ``val_accs``) for every compared run."""
    ids = comparison["run_ids"]
    x = np.asarray(comparison["epochs"], dtype=float)
    y = np.array(
        [[np.nan if v is None else v for v in comparison["histories"][rid][metric]] for rid in ids],
        dtype=float,
    ).reshape(len(ids), len(x))
    return x, y, list(ids)


class RunsView:
    """A runs table; selecting runs overlays their curves and lists their config differences.

    Parameters
    ----------
    client : RemoteClient or LocalClient
        Where the runs are.
    on_load_config : callable, optional
        Called with a run's config when "Load config" is pressed (e.g. a form's setter).
    """

    def __init__(self, client: Any, on_load_config: Callable[[dict[str, Any]], None] | None = None):
        self.client = client
        self.on_load_config = on_load_config
        self.sort = w.Dropdown(
            options=["started_at", "best_val_acc", "duration"], value="started_at", description="sort"
        )
        self.model = w.Dropdown(
            options=["(all)", *MODEL_NAMES],
            value="(all)",
            description="model",
        )
        self.table = w.SelectMultiple(options=[], rows=8, layout={"width": "auto", "max_width": "760px"})
        self.table.add_class("eegtrain-runs-table")  # monospace rows (the panel's CSS)
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.load_button = w.Button(description="Load config", tooltip="the first selected run's config")
        self.delete_button = w.Button(
            description="Delete",
            icon="trash",
            tooltip="delete the selected runs' folders (not an active run)",
        )
        self.confirm_text = w.HTML()
        self.confirm_button = w.Button(description="Delete", icon="trash", button_style="danger")
        self.confirm_button.add_class("eegtrain-confirm-delete")
        self.cancel_button = w.Button(description="Cancel")
        self.confirm = wrap_row([self.confirm_text, self.confirm_button, self.cancel_button])
        self.confirm.add_class("eegtrain-delete-confirmation")
        self.confirm.layout.display = "none"
        self.diff = w.HTML()
        self.message = w.HTML()
        self.figures = {
            metric: self._figure(title, label, y_range)
            for metric, title, label, y_range in (
                ("val_accs", "Validation accuracy", "accuracy (%)", (0, 100)),
                ("val_losses", "Validation loss", "loss", None),
            )
        }
        self.comparison: dict[str, Any] | None = None
        self.pending_delete: list[str] = []
        self.refresh_button.on_click(lambda _: self.refresh())
        self.load_button.on_click(lambda _: self._load())
        self.delete_button.on_click(lambda _: self.ask_delete())
        self.confirm_button.on_click(lambda _: self._confirmed())
        self.cancel_button.on_click(lambda _: self._hide_confirm())
        self.table.observe(lambda _: self.show_selected(), "value")
        for control in (self.sort, self.model):
            control.observe(lambda _: self.refresh(), "value")
        self.widget = w.VBox(
            [
                wrap_row([self.sort, self.model, self.refresh_button, self.load_button, self.delete_button]),
                self.confirm,
                self.table,
                wrap_row([f for f, _ in self.figures.values()], align_items="flex-start"),
                self.diff,
                self.message,
            ]
        )
        self.refresh()

    @staticmethod
    def _figure(title: str, label: str, y_range: tuple[float, float] | None) -> tuple[bq.Figure, bq.Lines]:
        xs = bq.LinearScale(min=1.0, max=2.0)  # whole epochs: see _show_epochs
        ys = bq.LinearScale(**({"min": y_range[0], "max": y_range[1]} if y_range else {}))
        lines = bq.Lines(
            x=np.zeros(0),
            y=np.zeros((0, 0)),
            scales={"x": xs, "y": ys},
            display_legend=True,
            marker="circle",
            marker_size=24,
        )
        fig = bq.Figure(
            marks=[lines],
            title=title,
            legend_location="top-right",
            animation_duration=0,
            axes=[
                bq.Axis(scale=xs, label="epoch", tick_format="d", side="bottom", tick_values=epoch_ticks(2)),
                bq.Axis(scale=ys, label=label, side="left", label_offset="48px"),
            ],
            layout={"width": "440px", "max_width": "100%", "height": "300px"},
        )
        return fig, lines

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def refresh(self) -> None:
        """Reload the runs list with the chosen sort and model filter."""
        query: dict[str, Any] = {"sort": self.sort.value, "order": "desc"}
        if self.model.value != "(all)":
            query["model"] = self.model.value
        try:
            runs = self.client.runs(**query)
        except Exception as exc:  # a client error: say it, keep the view
            self.message.value = f"<span style='color:#c62828'>{html.escape(str(exc))}</span>"
            return
        selected = set(self.table.value)
        self.table.options = [(_row_label(r), r["run_id"]) for r in runs]
        self.table.value = tuple(rid for _, rid in self.table.options if rid in selected)
        self.message.value = f"{len(runs)} runs"

    def select(self, run_ids: list[str]) -> None:
        """Select these runs (as a click would) and show them."""
        self.table.value = tuple(run_ids)
        self.show_selected()

    def show_selected(self) -> None:
        """Overlay the selected runs' validation curves and list their config differences."""
        ids = list(self.table.value)
        if not ids:
            self.comparison = None
            for figure, lines in self.figures.values():
                with lines.hold_sync():
                    lines.x, lines.y, lines.labels = np.zeros(0), np.zeros(0), []
                _show_epochs(figure, 2)
            self.diff.value = ""
            return
        try:
            self.comparison = self.client.compare(ids)
        except Exception as exc:  # a client error: say it, keep the view
            self.message.value = f"<span style='color:#c62828'>{html.escape(str(exc))}</span>"
            return
        for metric, (figure, lines) in self.figures.items():
            x, y, labels = overlay_lines(self.comparison, metric)
            _show_epochs(figure, max(2, int(x.max()) if len(x) else 2))
            if len(x) == 1:  # bqplot squeezes single points away: draw each as a zero-length segment
                x, y = np.repeat(x, 2), np.repeat(y, 2, axis=1)
            if len(labels) == 1:  # and a (1, n) y into (n,) or a scalar
                y = y[0]
            with lines.hold_sync():
                lines.x, lines.y = x, y
                lines.labels = labels
                lines.colors = [PALETTE[i % len(PALETTE)] for i in range(len(labels))]
        diff = self.comparison["config_diff"]
        rows = "".join(
            f"<tr><td><code>{html.escape(field)}</code></td>"
            + "".join(f"<td>{html.escape(str(values.get(rid)))}</td>" for rid in ids)
            + "</tr>"
            for field, values in diff.items()
        )
        head = "".join(
            f"<th style='color:{PALETTE[i % len(PALETTE)]}'>{html.escape(rid)}</th>"
            for i, rid in enumerate(ids)
        )
        self.diff.value = (
            f"<table><tr><th>differs</th>{head}</tr>{rows}</table>" if diff else "<i>same config</i>"
        )

    def ask_delete(self) -> None:
        """Ask before deleting: the selected runs are named, with Delete and Cancel buttons."""
        ids = list(self.table.value)
        if not ids:
            self.message.value = "select the runs to delete first"
            return
        self.pending_delete = ids
        self.confirm_text.value = (
            f"<b>Delete {len(ids)} run folder{'s' if len(ids) > 1 else ''}</b> "
            f"({html.escape(', '.join(ids))}) with their checkpoints? This cannot be undone."
        )
        self.confirm.layout.display = ""

    def _hide_confirm(self) -> None:
        self.pending_delete = []
        self.confirm.layout.display = "none"

    def _confirmed(self) -> None:
        ids = list(self.pending_delete)
        self._hide_confirm()
        if ids:
            self.table.value = tuple(ids)
            self.delete_selected()

    def delete_selected(self) -> list[str]:
        """Delete the selected runs (each refusal, e.g. an active run's 409, is said); returns the
        ids deleted."""
        deleted, refused = [], []
        for rid in list(self.table.value):
            try:
                self.client.delete_run(rid)
                deleted.append(rid)
            except Exception as exc:
                refused.append(f"{rid}: {exc}")
        self.table.value = ()
        self.refresh()
        if refused:
            self.message.value = f"<span style='color:#c62828'>{html.escape('; '.join(refused))}</span>"
        return deleted

    def _load(self) -> None:
        if not self.table.value or self.on_load_config is None or self.comparison is None:
            return
        self.on_load_config(dict(self.comparison["runs"][0]["config"]))


def _show_epochs(figure: bq.Figure, x_max: int) -> None:
    """Epochs 1 to ``x_max`` on ``figure``'s x axis, ticked at whole epochs."""
    axis = figure.axes[0]
    with axis.scale.hold_sync():
        axis.scale.min, axis.scale.max = 1.0, float(x_max)
    axis.tick_values = epoch_ticks(x_max)
