"""Runs side by side in a notebook: a sortable, filterable runs table with a check box per row, the
checked runs' validation curves overlaid in bqplot figures (one colour per run, the legend naming
model and run, axes fitted to the data) and their config differences.

:class:`RunsView` takes any client with ``runs(**query)`` and ``compare(ids)``
(:class:`~eegtrain_jupyter.client.RemoteClient` or :class:`~eegtrain_jupyter.client.LocalClient`).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from .plots import epoch_ticks, fit_range, nice_ticks
from .records import RUN_KINDS, data_text, run_kind
from .style import wrap_row

__all__ = ["COLUMNS", "MAX_ROWS", "PALETTE", "RunsView", "data_text", "overlay_lines", "run_label"]

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

MAX_ROWS = 30
"""Rows the table shows at most (the filter finds the others)."""


@dataclass(frozen=True)
class Column:
    """A column of the runs table: its header, how a run is sorted by it and how it is shown."""

    key: str
    header: str
    tooltip: str
    numeric: bool = False


COLUMNS = (
    Column("model", "model", "the classifier"),
    Column("data", "data", "where the windows came from"),
    Column("test", "test bal. acc", "held-out test balanced accuracy (%)", numeric=True),
    Column("val", "best val", "best validation accuracy (%), the score that chose the epoch", numeric=True),
    Column("epochs", "epochs", "epochs completed", numeric=True),
    Column("duration", "duration", "wall-clock time of the run", numeric=True),
    Column("state", "state", "how the run ended (or that it is going)"),
    Column("kind", "kind", "run: started by Start; trial: by a search; fold: by a benchmark"),
    Column("started", "started", "when the run started"),
)
"""The table's columns, in order (after the check box)."""


def run_label(run: dict[str, Any]) -> str:
    """How a figure's legend names a run: its model and its id."""
    return f"{run.get('model') or (run.get('config') or {}).get('model', '?')} · {run['run_id']}"


def _test_score(run: dict[str, Any]) -> float | None:
    report = run.get("test_report") or {}
    value = report.get("balanced_accuracy")
    return float(value) if isinstance(value, (int, float)) else None


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def overlay_lines(comparison: dict[str, Any], metric: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(x (n_epochs,), y (n_runs, n_epochs) with NaN for missing epochs, labels)`` of ``metric``
    (e.g. ``val_accs``) for every compared run; labels name model and run (:func:`run_label`)."""
    ids = comparison["run_ids"]
    records = {r["run_id"]: r for r in comparison.get("runs") or []}
    x = np.asarray(comparison["epochs"], dtype=float)
    y = np.array(
        [[np.nan if v is None else v for v in comparison["histories"][rid][metric]] for rid in ids],
        dtype=float,
    ).reshape(len(ids), len(x))
    return x, y, [run_label(records.get(rid, {"run_id": rid})) for rid in ids]


class _Row:
    """The widgets of one table row (reused across refreshes: a refresh changes their values)."""

    def __init__(self, on_check: Callable[[_Row], None]):
        self.run_id: str | None = None
        self.check = w.Checkbox(value=False, indent=False, layout={"width": "24px", "margin": "0"})
        self.check.add_class("eegtrain-run-check")
        self.cells = [w.HTML(layout={"min_width": "0"}) for _ in COLUMNS]
        for column, cell in zip(COLUMNS, self.cells, strict=True):
            cell.add_class("eegtrain-runs-cell")
            cell.add_class(f"eegtrain-runs-{column.key}")
        self.check.observe(lambda _: on_check(self), "value")

    @property
    def widgets(self) -> list[w.Widget]:
        return [self.check, *self.cells]


class RunsView:
    """The runs table; checking runs overlays their curves and lists their config differences.

    Parameters
    ----------
    client : RemoteClient or LocalClient
        Where the runs are.
    on_load_config : callable, optional
        Called with a run's config when "Load config" is pressed (e.g. a form's setter).
    on_choose : callable, optional
        Called with the id of the run last checked (the panel shows it in its Model tab).

    Attributes
    ----------
    runs : list of dict
        Every run record, newest first (as the client lists them).
    shown : list of dict
        The rows shown: filtered, sorted, at most :data:`MAX_ROWS`.
    selected : list of str
        The checked runs' ids, in the order they were checked.
    sort_key, descending
        The column the table is sorted by (a :data:`COLUMNS` key) and its direction; a header
        button sorts by its column, a second click reverses it.
    filter, kind : Text, Dropdown
        Rows whose model, data, state, kind or id contain the filter text; of one kind.
    trial_ids : set of str
        The runs of the trainer's current or last search (their kind is ``trial``).
    best_trial : str or None
        That search's best trial's run.
    """

    def __init__(
        self,
        client: Any,
        on_load_config: Callable[[dict[str, Any]], None] | None = None,
        on_choose: Callable[[str], None] | None = None,
    ):
        self.client = client
        self.on_load_config = on_load_config
        self.on_choose = on_choose
        self.runs: list[dict[str, Any]] = []
        self.shown: list[dict[str, Any]] = []
        self.selected: list[str] = []
        self.trial_ids: set[str] = set()
        self.best_trial: str | None = None
        self.sort_key, self.descending = "started", True
        self.filter = w.Text(
            placeholder="filter: model, data, state, kind or run id",
            layout={"width": "280px", "max_width": "100%"},
            continuous_update=True,
        )
        self.filter.add_class("eegtrain-runs-filter")
        self.kind = w.Dropdown(
            options=["(all kinds)", *RUN_KINDS], value="(all kinds)", layout={"width": "auto"}
        )
        self.kind.add_class("eegtrain-runs-kind")
        self.headers = {
            c.key: w.Button(description=c.header, tooltip=f"sort by {c.tooltip}", layout={"width": "auto"})
            for c in COLUMNS
        }
        for key, header in self.headers.items():
            header.add_class("eegtrain-runs-header")
            header.add_class(f"eegtrain-sort-{key}")
            header.on_click(lambda _, key=key: self.sort_by(key))
        self.all_check = w.Checkbox(
            value=False,
            indent=False,
            layout={"width": "24px", "margin": "0"},
            tooltip="check every row shown",
        )
        self._rows: list[_Row] = []
        self.table = w.GridBox(
            layout=w.Layout(
                grid_template_columns=f"24px repeat({len(COLUMNS)}, auto)",
                grid_gap="2px 8px",
                align_items="center",
                justify_content="flex-start",
                overflow="auto",
                max_width="100%",
            )
        )
        self.table.add_class("eegtrain-runs-table")
        self.refresh_button = w.Button(description="Refresh", icon="refresh", layout={"width": "auto"})
        self.load_button = w.Button(
            description="Load config", tooltip="the first checked run's config", layout={"width": "auto"}
        )
        self.delete_button = w.Button(
            description="Delete",
            icon="trash",
            tooltip="delete the checked runs' folders (not an active run)",
            layout={"width": "auto"},
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
        self.message.add_class("eegtrain-runs-message")
        self._specs = {
            "val_accs": ("Validation accuracy", "accuracy (%)", (0.0, 100.0), 4.0),
            "val_losses": ("Validation loss", "loss", None, 0.02),
        }
        self.figures = {metric: self._figure(spec[1]) for metric, spec in self._specs.items()}
        self.legends = {metric: w.HTML() for metric in self.figures}
        for metric, legend in self.legends.items():
            legend.add_class("eegtrain-legend")
            legend.add_class("eegtrain-runs-legend")
            legend.value = _legend(self._specs[metric][0], [])
        self.comparison: dict[str, Any] | None = None
        self.pending_delete: list[str] = []
        self._filling = False
        self.refresh_button.on_click(lambda _: self.refresh())
        self.load_button.on_click(lambda _: self._load())
        self.delete_button.on_click(lambda _: self.ask_delete())
        self.confirm_button.on_click(lambda _: self._confirmed())
        self.cancel_button.on_click(lambda _: self._hide_confirm())
        self.all_check.observe(self._all_checked, "value")
        self.filter.observe(lambda _: self._draw(), "value")
        self.kind.observe(lambda _: self._draw(), "value")
        self.widget = w.VBox(
            [
                wrap_row([self.filter, self.kind, self.refresh_button, self.load_button, self.delete_button]),
                self.confirm,
                self.table,
                self.message,
                wrap_row(
                    [
                        w.VBox(
                            [self.legends[m], f],
                            layout={"flex": "1 1 340px", "min_width": "0", "max_width": "560px"},
                        )
                        for m, (f, _) in self.figures.items()
                    ],
                    align_items="flex-start",
                ),
                self.diff,
            ],
            layout={"min_width": "0"},
        )
        self.widget.add_class("eegtrain-runs")
        self.refresh()

    @staticmethod
    def _figure(label: str) -> tuple[bq.Figure, bq.Lines]:
        xs = bq.LinearScale(min=1.0, max=2.0)  # whole epochs: see _show_epochs
        ys = bq.LinearScale(min=0.0, max=1.0)
        lines = bq.Lines(
            x=np.zeros(0),
            y=np.zeros((0, 0)),
            scales={"x": xs, "y": ys},
            display_legend=False,  # the legend is HTML above the plot: it never covers a curve
            marker="circle",
            marker_size=24,
        )
        fig = bq.Figure(
            marks=[lines],
            animation_duration=0,
            axes=[
                bq.Axis(scale=xs, label="epoch", tick_format="d", side="bottom", tick_values=epoch_ticks(2)),
                bq.Axis(scale=ys, label=label, side="left", label_offset="44px", grid_lines="dashed"),
            ],
            fig_margin={"top": 10, "bottom": 40, "left": 64, "right": 16},
            layout={"width": "auto", "min_width": "0", "height": "260px"},
        )
        fig.add_class("eegtrain-runs-figure")
        return fig, lines

    def spare_widgets(self) -> list[w.Widget]:
        """The row widgets kept for reuse but not shown now (the filter hides their rows): closing
        the view closes these too."""
        return [widget for row in self._rows[len(self.shown) :] for widget in row.widgets]

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # -- the table -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the runs (and which of them a search ran) and redraw the table."""
        try:
            runs = list(self.client.runs())
        except Exception as exc:  # a client error: say it, keep the view
            self.message.value = f"<span class='eegtrain-error-text'>{html.escape(str(exc))}</span>"
            return
        self.trial_ids, self.best_trial = _search_runs(self.client)
        self.runs = runs
        known = {r["run_id"] for r in runs}
        self.selected = [rid for rid in self.selected if rid in known]
        self._draw()
        self.show_selected()

    def value(self, run: dict[str, Any], key: str) -> Any:
        """What column ``key`` sorts ``run`` by (None sorts last)."""
        config = run.get("config") or {}
        return {
            "model": run.get("model") or config.get("model"),
            "data": data_text(config),
            "test": _test_score(run),
            "val": run.get("best_val_acc"),
            "epochs": run.get("epochs_completed"),
            "duration": run.get("duration"),
            "state": run.get("state"),
            "kind": run_kind(run, self.trial_ids),
            "started": run.get("started_at") or run.get("run_id"),
        }[key]

    def _cells(self, run: dict[str, Any]) -> list[str]:
        config = run.get("config") or {}
        data = data_text(config)
        started = str(run.get("started_at") or "")
        return [
            html.escape(str(self.value(run, "model"))),
            f"<span title='{html.escape(data, quote=True)}'>{html.escape(data)}</span>",
            f"<b>{_pct(_test_score(run))}</b>",
            _pct(run.get("best_val_acc")),
            html.escape(f"{run.get('epochs_completed', 0)} / {config.get('n_epochs', '?')}"),
            _duration(run.get("duration")),
            html.escape(str(run.get("state"))),
            html.escape(run_kind(run, self.trial_ids)),
            f"<span title='{html.escape(run['run_id'], quote=True)}'>"
            f"{html.escape(started.replace('T', ' ')[5:16] or run['run_id'])}</span>",
        ]

    def matches(self, run: dict[str, Any]) -> bool:
        """Whether ``run`` passes the filter text and the kind chosen."""
        if self.kind.value != "(all kinds)" and run_kind(run, self.trial_ids) != self.kind.value:
            return False
        needle = self.filter.value.strip().lower()
        if not needle:
            return True
        hay = (
            " ".join(str(self.value(run, k)) for k in ("model", "data", "state", "kind"))
            + " "
            + run["run_id"]
        )
        return all(part in hay.lower() for part in needle.split())

    def sort_by(self, key: str, descending: bool | None = None) -> None:
        """Sort by column ``key``; the same column again reverses the order (or ``descending``)."""
        if descending is None:
            descending = not self.descending if key == self.sort_key else COLUMNS_BY_KEY[key].numeric
        self.sort_key, self.descending = key, descending
        self._draw()

    def _draw(self) -> None:
        rows = [r for r in self.runs if self.matches(r)]
        present = [r for r in rows if self.value(r, self.sort_key) is not None]
        missing = [r for r in rows if self.value(r, self.sort_key) is None]
        present.sort(key=lambda r: self.value(r, self.sort_key), reverse=self.descending)
        ordered = present + missing  # a run without the value sorts last either way
        self.shown = ordered[:MAX_ROWS]
        while len(self._rows) < len(self.shown):
            self._rows.append(_Row(self._row_checked))
        self._filling = True
        try:
            for row, run in zip(self._rows, self.shown, strict=False):
                row.run_id = run["run_id"]
                row.check.value = run["run_id"] in self.selected
                row.check.tooltip = run["run_id"]
                for cell, text in zip(row.cells, self._cells(run), strict=True):
                    cell.value = text
            self.all_check.value = bool(self.shown) and all(r["run_id"] in self.selected for r in self.shown)
        finally:
            self._filling = False
        for key, header in self.headers.items():
            arrow = (" ▼" if self.descending else " ▲") if key == self.sort_key else ""
            header.description = COLUMNS_BY_KEY[key].header + arrow
            (header.add_class if key == self.sort_key else header.remove_class)("eegtrain-sorted")
        cells: list[w.Widget] = [self.all_check, *self.headers.values()]
        for row in self._rows[: len(self.shown)]:
            cells += row.widgets
        self.table.children = cells
        hidden = len(ordered) - len(self.shown)
        text = (
            f"{len(ordered)} of {len(self.runs)} runs"
            if len(ordered) != len(self.runs)
            else f"{len(self.runs)} runs"
        )
        if hidden:
            text += f" ({hidden} not shown: narrow the filter)"
        if self.selected:
            text += f" · {len(self.selected)} checked"
        self.message.value = f"<span class='eegtrain-muted'>{html.escape(text)}</span>"

    def _row_checked(self, row: _Row) -> None:
        if self._filling or row.run_id is None:
            return
        if row.check.value and row.run_id not in self.selected:
            self.selected.append(row.run_id)
            if self.on_choose is not None:
                self.on_choose(row.run_id)
        elif not row.check.value and row.run_id in self.selected:
            self.selected.remove(row.run_id)
        self._draw()
        self.show_selected()

    def _all_checked(self, change) -> None:
        if self._filling:
            return
        ids = [r["run_id"] for r in self.shown]
        if change["new"]:
            self.selected += [rid for rid in ids if rid not in self.selected]
        else:
            self.selected = [rid for rid in self.selected if rid not in ids]
        self._draw()
        self.show_selected()

    def select(self, run_ids: list[str]) -> None:
        """Check these runs (as clicks would, in this order) and show them."""
        self.selected = [rid for rid in run_ids if any(r["run_id"] == rid for r in self.runs)]
        self._draw()
        self.show_selected()
        if self.selected and self.on_choose is not None:
            self.on_choose(self.selected[-1])

    # -- the comparison ------------------------------------------------------------------
    def show_selected(self) -> None:
        """Overlay the checked runs' validation curves (axes fitted to them) and list their config
        differences."""
        ids = list(self.selected)
        if not ids:
            self.comparison = None
            for metric, (figure, lines) in self.figures.items():
                with lines.hold_sync():
                    lines.x, lines.y, lines.labels = np.zeros(0), np.zeros((0, 0)), []
                _show_epochs(figure, 2)
                self.legends[metric].value = _legend(self._specs[metric][0], [])
            self.diff.value = ""
            return
        try:
            self.comparison = self.client.compare(ids)
        except Exception as exc:  # a client error: say it, keep the view
            self.message.value = f"<span class='eegtrain-error-text'>{html.escape(str(exc))}</span>"
            return
        for metric, (figure, lines) in self.figures.items():
            x, y, labels = overlay_lines(self.comparison, metric)
            _show_epochs(figure, max(2, int(x.max()) if len(x) else 2))
            _fit_y(figure, y, *self._specs[metric][2:])
            if len(x) == 1:  # bqplot squeezes single points away: draw each as a zero-length segment
                x, y = np.repeat(x, 2), np.repeat(y, 2, axis=1)
            if len(labels) == 1:  # and a (1, n) y into (n,) or a scalar
                y = y[0]
            colors = [PALETTE[i % len(PALETTE)] for i in range(len(labels))]
            with lines.hold_sync():
                lines.x, lines.y = x, y
                lines.labels = labels
                lines.colors = colors
            self.legends[metric].value = _legend(
                self._specs[metric][0], list(zip(labels, colors, strict=True))
            )
        diff = self.comparison["config_diff"]
        records = {r["run_id"]: r for r in self.comparison.get("runs") or []}
        rows = "".join(
            f"<tr><td><code>{html.escape(field)}</code></td>"
            + "".join(f"<td>{html.escape(str(values.get(rid)))}</td>" for rid in ids)
            + "</tr>"
            for field, values in diff.items()
        )
        head = "".join(
            f"<th style='color:{PALETTE[i % len(PALETTE)]}'>"
            f"{html.escape(run_label(records.get(rid, {'run_id': rid})))}</th>"
            for i, rid in enumerate(ids)
        )
        self.diff.value = (
            f"<div class='eegtrain-table-scroll'><table class='eegtrain-diff'><tr><th>differs</th>{head}</tr>"
            f"{rows}</table></div>"
            if diff
            else "<i>same config</i>"
        )

    # -- delete --------------------------------------------------------------------------
    def ask_delete(self) -> None:
        """Ask before deleting: the checked runs are named, with Delete and Cancel buttons."""
        ids = list(self.selected)
        if not ids:
            self.message.value = "check the runs to delete first"
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
            self.selected = ids
            self.delete_selected()

    def delete_selected(self) -> list[str]:
        """Delete the checked runs (each refusal, e.g. an active run's 409, is said); returns the
        ids deleted."""
        deleted, refused = [], []
        for rid in list(self.selected):
            try:
                self.client.delete_run(rid)
                deleted.append(rid)
            except Exception as exc:
                refused.append(f"{rid}: {exc}")
        self.selected = []
        self.refresh()
        if refused:
            self.message.value = f"<span class='eegtrain-error-text'>{html.escape('; '.join(refused))}</span>"
        return deleted

    def _load(self) -> None:
        if not self.selected or self.on_load_config is None:
            return
        run = next((r for r in self.runs if r["run_id"] == self.selected[0]), None)
        if run is not None:
            self.on_load_config(dict(run["config"]))


COLUMNS_BY_KEY = {c.key: c for c in COLUMNS}


def _search_runs(client: Any) -> tuple[set[str], str | None]:
    """The runs of the trainer's current or last search and its best trial's run (none when it
    cannot say)."""
    try:
        search = client.search_status()
    except Exception:  # no search support (Optuna missing) or no answer: no run is a known trial
        return set(), None
    trials = {str(t["run_id"]) for t in search.get("trials") or [] if t.get("run_id")}
    return trials, (search.get("best") or {}).get("run_id")


def _legend(title: str, keys: list[tuple[str, str]]) -> str:
    """The figure's title and one coloured key per run, above the plot."""
    head = f"<span class='eegtrain-figure-title'>{html.escape(title)}</span>"
    if not keys:
        return head + "<span class='eegtrain-muted'>check runs in the table to compare them</span>"
    return head + "".join(
        f"<span class='eegtrain-key'><i style='background:{color}'></i>{html.escape(label)}</span>"
        for label, color in keys
    )


def _fit_y(figure: bq.Figure, y: np.ndarray, bounds: tuple[float, float] | None, min_span: float) -> None:
    """Fit the y axis to the curves drawn (within ``bounds``: accuracy stays within 0–100 %), with
    round ticks."""
    lo, hi = fit_range(
        [float(v) for v in np.ravel(y)], min_span=min_span, bounds=bounds, empty=bounds or (0.0, 1.0)
    )
    axis = figure.axes[1]
    ticks, fmt = nice_ticks(lo, hi)
    with axis.scale.hold_sync():
        axis.scale.min, axis.scale.max = float(lo), float(hi)
    axis.tick_values, axis.tick_format = np.array(ticks, dtype=float), fmt


def _show_epochs(figure: bq.Figure, x_max: int) -> None:
    """Epochs 1 to ``x_max`` on ``figure``'s x axis, ticked at whole epochs."""
    axis = figure.axes[0]
    with axis.scale.hold_sync():
        axis.scale.min, axis.scale.max = 1.0, float(x_max)
    axis.tick_values = epoch_ticks(x_max)
