"""The notebook panel: configure, start, stop and watch the one trainer.

A thin view over a client (:mod:`eegtrain_jupyter.client`): every fact about the run
comes from the trainer's status, fetched by one daemon poller thread per kernel (shared
by every open panel), so the kernel's main thread stays free and Stop always answers.
A panel opened while a run is going (started by curl, the CLI or another notebook) shows
that run with its history so far. Creating a panel closes the ones created before it in
this kernel (re-running the panel cell does not pile up pollers and widget models).
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets as w

from ..client import (
    AlreadyTraining,
    ClientError,
    ConnectionFailed,
    TrainingClient,
    ValidationFailed,
    connect,
)
from ..config import json_schema
from .form import ConfigForm, format_number
from .plots import CurvesFigure

__all__ = ["POLLER_THREAD_NAME", "STATE_COLORS", "TrainingPanel", "estimate_duration", "open_panels"]

POLLER_THREAD_NAME = "eegtrain-panel-poller"

STATE_COLORS = {
    "idle": "#757575",
    "preparing": "#f9a825",
    "training": "#1565c0",
    "stopping": "#ef6c00",
    "completed": "#2e7d32",
    "stopped": "#546e7a",
    "failed": "#c62828",
    "interrupted": "#ad1457",
    "reconnecting": "#6a1b9a",
}
_ACTIVE = {"preparing", "training", "stopping"}
_BAR_STYLES = {"completed": "success", "failed": "danger", "interrupted": "danger", "stopped": "warning"}
_METRICS = {
    "train_loss": "train loss",
    "val_loss": "val loss",
    "train_acc": "train acc",
    "val_acc": "val acc",
    "best_val_acc": "best val acc",
    "elapsed": "elapsed",
    "eta": "ETA",
}
# Colours come from JupyterLab's theme variables, so the light and the dark theme both read well;
# error/ok/warn text picks the shade with enough contrast on each theme's background.
_CSS = """
.eegtrain-panel { --eegtrain-error: var(--jp-error-color1, #d32f2f);
  --eegtrain-warn: var(--jp-warn-color0, #e65100); --eegtrain-ok: var(--jp-success-color0, #1b5e20);
  color: var(--jp-ui-font-color1); min-width: 0; max-width: 100%; box-sizing: border-box; }
body[data-jp-theme-light='false'] .eegtrain-panel { --eegtrain-error: var(--jp-error-color2, #e57373);
  --eegtrain-warn: var(--jp-warn-color2, #ffb74d); --eegtrain-ok: var(--jp-success-color2, #81c784); }
.eegtrain-panel .widget-html-content { white-space: normal; overflow-wrap: anywhere; line-height: 1.45; }
.eegtrain-panel .widget-html, .eegtrain-panel .widget-label { min-width: 0; }
.eegtrain-panel .eegtrain-help { color: var(--jp-ui-font-color2); font-size: var(--jp-ui-font-size0, 11px);
  line-height: 1.3; display: block; }
.eegtrain-panel .eegtrain-field-help .widget-html-content,
.eegtrain-panel .eegtrain-field-error .widget-html-content { line-height: 1.3; }
.eegtrain-panel .eegtrain-error-text, .eegtrain-panel .eegtrain-error { color: var(--eegtrain-error); font-weight: 600; }
.eegtrain-panel .eegtrain-error details { font-weight: normal; color: var(--jp-ui-font-color1); }
.eegtrain-panel .eegtrain-error pre { white-space: pre-wrap; max-height: 12em; overflow-y: auto;
  font-size: var(--jp-code-font-size, 12px); background: var(--jp-layout-color2); padding: 4px; }
.eegtrain-panel .eegtrain-warn { color: var(--eegtrain-warn); }
.eegtrain-panel .eegtrain-ok { color: var(--eegtrain-ok); }
.eegtrain-panel .eegtrain-muted, .eegtrain-panel .eegtrain-caption { color: var(--jp-ui-font-color2); }
.eegtrain-panel .eegtrain-caption { font-size: var(--jp-ui-font-size0, 11px); }
.eegtrain-panel .eegtrain-invalid input, .eegtrain-panel .eegtrain-invalid select {
  border-color: var(--eegtrain-error) !important; box-shadow: 0 0 0 1px var(--eegtrain-error); }
.eegtrain-panel .eegtrain-invalid .widget-label { color: var(--eegtrain-error); }
.eegtrain-panel .eegtrain-section { font-weight: 600; border-bottom: 1px solid var(--jp-border-color2);
  margin-top: 6px; }
.eegtrain-panel .eegtrain-legend .eegtrain-figure-title { font-weight: 600; margin-right: 12px; }
.eegtrain-panel .eegtrain-legend .eegtrain-key { white-space: nowrap; margin-right: 10px; }
.eegtrain-panel .eegtrain-legend .eegtrain-key i { display: inline-block; width: 16px; height: 3px;
  vertical-align: middle; margin-right: 4px; }
.eegtrain-panel .bqplot > svg .axis text.axislabel, .eegtrain-panel .bqplot > svg .axis tspan.axislabel {
  fill: var(--jp-ui-font-color1); }
.eegtrain-panel .bqplot > svg .axis .tick text { fill: var(--jp-ui-font-color2); }
.eegtrain-panel .bqplot > svg .axis path, .eegtrain-panel .bqplot > svg .axis .tick line {
  stroke: var(--jp-border-color1); }
.eegtrain-panel .bqplot, .eegtrain-panel .bqplot > svg { background: transparent; }
.eegtrain-panel .bqplot > svg .plotarea_background { fill: transparent; }
.eegtrain-panel code { overflow-wrap: anywhere; }
/* the kernel behind this view restarted or stopped (ipywidgets marks every view of a dead comm):
   say so once, look inert, and never show a live-looking state or Stop button */
.eegtrain-panel .jupyter-widgets-disconnected::before { content: none !important; display: none !important; }
.eegtrain-panel.jupyter-widgets-disconnected::before { order: -1; display: block;
  content: "Disconnected: the kernel behind this panel restarted or stopped. Re-run the cell for a live panel.";
  font: inherit; font-weight: 600; color: var(--eegtrain-error); padding: 2px 0 4px; }
.eegtrain-panel.jupyter-widgets-disconnected > :nth-child(n+3) { opacity: .45; pointer-events: none; }
.eegtrain-panel.jupyter-widgets-disconnected .eegtrain-badge span { display: none; }
.eegtrain-panel.jupyter-widgets-disconnected .eegtrain-badge .widget-html-content::after {
  content: "disconnected"; background: var(--jp-layout-color3, #757575); color: var(--jp-ui-font-color1);
  padding: 2px 10px; border-radius: 10px; font-weight: 600; }
.eegtrain-panel.jupyter-widgets-disconnected button { pointer-events: none; opacity: .4; }
"""


def _fmt_loss(x):
    return "—" if x is None else f"{x:.4f}"


def _fmt_acc(x):
    return "—" if x is None else f"{x:.1f}%"


def _fmt_seconds(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _wrap_row(children, **layout) -> w.HBox:
    """A row that wraps onto the next line when the notebook is narrow (no horizontal scroll)."""
    return w.HBox(children, layout={"flex_flow": "row wrap", "align_items": "center", "grid_gap": "4px 12px",
                                    "min_width": "0", "width": "100%", **layout})


def _error_html(text: str) -> str:
    """The first line of an error, the whole text folded under "details" when there is more."""
    lines = str(text).strip().splitlines() or [""]
    first = lines[0] if len(lines[0]) <= 240 else lines[0][:240] + "…"
    out = html.escape(first)
    if len(lines) > 1 or first != lines[0]:
        out += f"<details><summary>details</summary><pre>{html.escape(str(text))}</pre></details>"
    return out


def estimate_duration(config: dict[str, Any], runs: list[dict[str, Any]]) -> tuple[float, dict[str, Any]] | None:
    """Seconds a run of ``config`` should take here, from the newest comparable past run.

    Comparable: same ``freeze_backbone``, ``device`` and ``precision`` settings, at least one
    epoch timed; a completed run is preferred (a stopped one's duration includes a cut epoch).
    Its set-up (data, model, feature caching) and its mean epoch time are scaled by the number
    of windows; returns ``(seconds, that run's record)`` or None.
    """
    try:
        windows = 2 * int(config["n_samples_per_class"])
        n_epochs = int(config["n_epochs"])
    except (KeyError, TypeError, ValueError):
        return None
    for rec in sorted(runs, key=lambda r: r.get("state") != "completed"):  # stable: newest first within
        past = rec.get("config") or {}
        times = [t for t in rec.get("epoch_times") or [] if isinstance(t, (int, float))]
        duration = rec.get("duration")
        if not times or not isinstance(duration, (int, float)) or not past.get("n_samples_per_class"):
            continue
        if any(past.get(k) != config.get(k) for k in ("freeze_backbone", "device", "precision")):
            continue
        scale = windows / (2 * past["n_samples_per_class"])
        setup = max(duration - sum(times), 0.0)
        return setup * scale + sum(times) / len(times) * scale * n_epochs, rec
    return None


class _SharedPoller:
    """One daemon thread that polls every open panel of this kernel, each at its own interval."""

    def __init__(self):
        self._lock = threading.Lock()
        self._panels: list[TrainingPanel] = []
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def add(self, panel: TrainingPanel) -> None:
        with self._lock:
            self._panels.append(panel)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=POLLER_THREAD_NAME, daemon=True)
                self._thread.start()
        self._wake.set()

    def remove(self, panel: TrainingPanel) -> None:
        with self._lock:
            if panel in self._panels:
                self._panels.remove(panel)
        self._wake.set()

    def panels(self) -> list[TrainingPanel]:
        with self._lock:
            return list(self._panels)

    def polls(self, panel: TrainingPanel) -> bool:
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


_POLLER = _SharedPoller()


def open_panels() -> list[TrainingPanel]:
    """The panels of this kernel that are open (not closed), oldest first."""
    return _POLLER.panels()


class TrainingPanel(w.VBox):
    """Config form, Start/Stop, progress, metrics and live curves for one trainer.

    Parameters
    ----------
    client : TrainingClient or None
        ``None`` runs :func:`~eegtrain_jupyter.client.connect` (the server that launched
        this kernel, else an in-kernel trainer).
    poll_interval : float
        Seconds between status polls of this panel.
    preset : str or None
        Preset to fill the form with (else the last run's config, or the defaults).
    replace : bool
        Close the panels created before this one in this kernel (default): re-running the
        panel cell then leaves one panel, one poller thread and no orphaned widget models.

    Attributes
    ----------
    fields : dict[str, Widget]
        Config inputs by name; ``form`` is the :class:`~.form.ConfigForm` behind them.
    start_button, stop_button, use_run_config_button, preset, progress, batch_progress, badge,
    error, backend, backbone, run_info, run_config, outputs, start_hint, cost_hint : Widget
        The parts a user sees (each carries an ``eegtrain-*`` CSS class).
    metrics : dict[str, Label]
        ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc``, ``best_val_acc``, ``elapsed``, ``eta``.
    loss_figure, acc_figure : bqplot.Figure
        Live curves; ``loss_curves``/``acc_curves`` hold their lines.
    last_status : dict or None
        The status most recently shown (set once the whole panel shows it).
    """

    def __init__(self, client: TrainingClient | None = None, *, poll_interval: float = 0.5,
                 preset: str | None = None, replace: bool = True, **kwargs):
        super().__init__(**kwargs)
        if replace:
            for old in _POLLER.panels():
                old.close()
        self.add_class("eegtrain-panel")
        self.layout.min_width = "0"
        self.client = client if client is not None else connect()
        self.poll_interval = poll_interval
        self.last_status: dict[str, Any] | None = None
        self._status: dict[str, Any] | None = None  # being rendered; last_status once it is drawn
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._next_poll = 0.0
        self._connection_error: str | None = None
        self._action_error: str | None = None
        self._runs: list[dict[str, Any]] = []
        self._runs_seen: tuple | None = None

        style = w.HTML(f"<style>{_CSS}</style>", layout={"display": "none"})
        self.badge = w.HTML()
        self.badge.add_class("eegtrain-badge")
        title = w.HTML("<b style='font-size:1.15em'>LaBraM EEG training</b>"
                       " <span class='eegtrain-muted'>relaxed vs anxious</span>")
        self.backend = w.HTML()
        self.backend.add_class("eegtrain-backend")
        self.error = w.HTML()
        self.error.add_class("eegtrain-error")

        try:
            schema = self.client.schema()
        except ClientError as exc:  # still build the form; Start waits for the connection
            schema = json_schema()
            self._connection_error = str(exc)
        self.form = ConfigForm(schema, on_change=self._form_changed)
        self.fields = self.form.fields
        self.preset = self.form.preset
        self.cost_hint = w.HTML()
        self.cost_hint.add_class("eegtrain-cost-hint")

        self.start_button = w.Button(description="Start", icon="play", button_style="success",
                                     tooltip="Validate the config and start training")
        self.start_button.add_class("eegtrain-start")
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="danger",
                                    tooltip="Stop after the current batch (checkpoint and history are kept)",
                                    disabled=True)
        self.stop_button.add_class("eegtrain-stop")
        self.use_run_config_button = w.Button(
            description="Use this run's config", icon="copy", disabled=True,
            tooltip="Fill the form (the next run's config) with the config of the run shown below",
            layout={"width": "auto"})
        self.use_run_config_button.add_class("eegtrain-use-run-config")
        self.start_hint = w.HTML()
        self.start_hint.add_class("eegtrain-start-hint")
        self.start_button.on_click(self._on_start)
        self.stop_button.on_click(self._on_stop)
        self.use_run_config_button.on_click(self._on_use_run_config)

        bar_layout = {"flex": "1 1 240px", "min_width": "0", "max_width": "460px"}
        self.progress = w.IntProgress(value=0, min=0, max=1, description="epochs", layout=bar_layout)
        self.progress.add_class("eegtrain-progress")
        self.progress_label = w.HTML("no run yet")
        self.progress_label.add_class("eegtrain-progress-label")
        self.batch_progress = w.IntProgress(value=0, min=0, max=1, description="batches", layout=dict(bar_layout))
        self.batch_progress.add_class("eegtrain-batch-progress")
        self.batch_label = w.HTML("")
        self.batch_label.add_class("eegtrain-batch-label")

        self.metrics = {}
        self.metrics_epoch = w.Label("—")  # which epoch the metrics below come from
        self.metrics_epoch.add_class("eegtrain-metrics-epoch")
        cells = [w.VBox([w.HTML("<span class='eegtrain-caption'>after epoch</span>"), self.metrics_epoch],
                        layout={"min_width": "72px"})]
        for key, text in _METRICS.items():
            label = w.Label("—")
            label.add_class(f"eegtrain-metric-{key.replace('_', '-')}")
            self.metrics[key] = label
            cells.append(w.VBox([w.HTML(f"<span class='eegtrain-caption'>{text}</span>"), label],
                                layout={"min_width": "72px"}))
        self.metrics_box = _wrap_row(cells, grid_gap="4px 18px")
        self.metrics_box.add_class("eegtrain-metrics")
        self.backbone = w.HTML()
        self.backbone.add_class("eegtrain-backbone")
        self.run_info = w.HTML()
        self.run_info.add_class("eegtrain-run")
        self.run_config = w.HTML()
        self.run_config.add_class("eegtrain-run-config")
        self.outputs = w.HTML()
        self.outputs.add_class("eegtrain-outputs")

        self.loss_curves = CurvesFigure("Loss", "cross-entropy loss", min_span=0.02,
                                        empty_range=(0.0, 1.0), css_class="eegtrain-loss-figure")
        self.acc_curves = CurvesFigure("Accuracy", "accuracy (%)", y_bounds=(0.0, 100.0), min_span=4.0,
                                       empty_range=(0.0, 100.0), css_class="eegtrain-acc-figure")
        self.loss_figure = self.loss_curves.figure
        self.acc_figure = self.acc_curves.figure

        def section(text: str) -> w.HTML:
            return w.HTML(f"<div class='eegtrain-section'>{text}</div>")

        self.children = [
            style,
            _wrap_row([title, self.badge]),
            self.backend,
            section("Next run <span class='eegtrain-muted' style='font-weight:normal'>— the config "
                    "Start uses</span>"),
            _wrap_row([self.preset, self.cost_hint]),
            self.form.grid,
            _wrap_row([self.start_button, self.stop_button, self.use_run_config_button, self.start_hint]),
            self.error,
            section("Run shown <span class='eegtrain-muted' style='font-weight:normal'>— the trainer's "
                    "current or last run</span>"),
            self.run_info,
            self.run_config,
            self.backbone,
            _wrap_row([self.progress, self.progress_label]),
            _wrap_row([self.batch_progress, self.batch_label]),
            self.metrics_box,
            self.outputs,
            _wrap_row([self.loss_curves.widget, self.acc_curves.widget], align_items="flex-start",
                      grid_gap="8px 16px"),
        ]

        self.refresh()
        status = self.last_status
        with self._lock:
            if preset is not None:
                self.preset.value = preset
            elif status is not None and status.get("run_id") and status.get("config"):
                self.form.set_values(status["config"])
            self._load_runs(status)
            self._render_run_config()
            self._sync_controls()
        self._next_poll = time.monotonic() + poll_interval
        _POLLER.add(self)

    # -- public ------------------------------------------------------------------------
    def refresh(self) -> dict[str, Any] | None:
        """Fetch the status now and show it; returns it (None when the trainer is unreachable)."""
        try:
            status = self.client.status()
        except ClientError as exc:
            with self._lock:
                if self._closing.is_set():
                    return None
                self._connection_error = str(exc)
                self._render_disconnected()
            return None
        with self._lock:
            if self._closing.is_set():
                return status
            self._connection_error = None
            self._render(status)
            if not status.get("is_training") and self._runs_seen != _run_key(status):
                self._load_runs(status)
        return status

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until no run is active (or ``timeout``), then show and return the final status.

        Blocks this cell only; the poller keeps the panel live meanwhile.
        """
        status = self.client.wait(timeout)
        return self.refresh() or status

    def close(self) -> None:
        """Stop polling for this panel and close every widget model it made (layouts, plots too)."""
        with self._lock:
            self._closing.set()
        _POLLER.remove(self)
        roots = [self, *([self.form.widget] if "widget" in vars(self.form) else [])]
        for widget in list(_widget_tree(*roots)):
            if widget is not self:
                widget.close()
        super().close()

    @property
    def polling(self) -> bool:
        """Whether the kernel's poller thread is polling this panel."""
        return _POLLER.polls(self)

    def __repr__(self) -> str:
        return f"TrainingPanel(client={self.client!r})"

    # -- events ------------------------------------------------------------------------
    def _poll_once(self) -> None:
        try:
            self.refresh()
        except Exception as exc:  # never let the poller die
            with self._lock:
                self._action_error = html.escape(f"panel update failed: {type(exc).__name__}: {exc}")
                self._render_error()

    def _form_changed(self) -> None:
        with self._lock:
            self._action_error = None
            self._render_error()
            self._render_run_config()
            self._render_cost()
            self._sync_controls()

    def _on_start(self, _button=None) -> None:
        with self._lock:
            self._action_error = None
            config = self.form.values()
            problems = self.form.refresh_errors()
            if problems:
                names = ", ".join(self.form.title(n) for n in problems)
                self._action_error = html.escape(f"Fix the highlighted fields before starting: {names}.")
            else:
                self._act(lambda: self._start(config))
            self._render_error()
            self._sync_controls()

    def _start(self, config: dict[str, Any]) -> dict[str, Any] | None:
        """Validate on the trainer, then start; a refusal is shown by its fields and returns None."""
        try:
            result = self.client.validate(config)
            if not result["valid"]:
                self._show_refusal("The trainer refused this configuration", result["errors"])
                return None
            return self.client.start(config)
        except ValidationFailed as exc:
            self._show_refusal("The trainer refused this configuration", [e.to_dict() for e in exc.errors],
                               fallback=str(exc))
        except AlreadyTraining as exc:
            self.refresh()  # show that run first: the message below belongs to its state
            self._action_error = (f"Training already in progress (run {html.escape(str(exc.run_id))}); "
                                  "it is shown below.")
        return None

    def _act(self, action: Callable[[], dict[str, Any] | None]) -> None:
        """Run a client action (under the lock): render the status it returns, or show why it failed."""
        try:
            status = action()
        except ConnectionFailed as exc:
            self._connection_error = str(exc)
            self._render_disconnected()
        except ClientError as exc:
            self._action_error = _error_html(str(exc))
        else:
            if status is not None:
                self._render(status)

    def _show_refusal(self, message: str, errors: list[dict[str, str]], fallback: str = "") -> None:
        orphans = self.form.show_server_errors(errors)
        if errors and not orphans:
            names = ", ".join(self.form.title(n) for n in self.form.server_errors)
            self._action_error = html.escape(f"{message}: see {names} above.")
        else:
            self._action_error = html.escape(f"{message}: " + ("; ".join(orphans) or fallback or "no reason given"))

    def _on_stop(self, _button=None) -> None:
        with self._lock:
            self._action_error = None
            self._act(self.client.stop)
            self._render_error()
            self._sync_controls()

    def _on_use_run_config(self, _button=None) -> None:
        with self._lock:
            config = (self.last_status or {}).get("config")
            if config and not self.form.disabled:
                self.form.set_values(config)
                self._form_changed()

    def _load_runs(self, status: dict[str, Any] | None) -> None:
        """Past runs, for the cost hint (fetched again when a run has ended)."""
        try:
            self._runs = list(self.client.runs())
        except ClientError:  # a hint is never worth an error line
            return
        self._runs_seen = _run_key(status or {})
        self._render_cost()

    # -- rendering (under the lock) ----------------------------------------------------
    def _render(self, status: dict[str, Any]) -> None:
        previous = self._status
        if previous is not None and _run_key(previous) != _run_key(status):
            self._action_error = None  # a message about the old state would be stale now
        self._status = status
        state = status.get("state", "idle")
        self._render_badge(state)
        self._render_backend()
        total = int(status.get("total_epochs") or 0)
        done = int(status.get("current_epoch") or 0)
        with self.progress.hold_sync():
            self.progress.max = max(total, 1)
            self.progress.value = min(done, self.progress.max)
            self.progress.bar_style = _BAR_STYLES.get(state, "info" if status.get("is_training") else "")
        self.progress_label.value = html.escape(_epoch_text(status))
        self._render_batch(status)
        m = self.metrics
        m["train_loss"].value = _fmt_loss(status.get("train_loss"))
        m["val_loss"].value = _fmt_loss(status.get("val_loss"))
        m["train_acc"].value = _fmt_acc(status.get("train_acc"))
        m["val_acc"].value = _fmt_acc(status.get("val_acc"))
        m["best_val_acc"].value = _fmt_acc(status.get("best_val_acc"))
        m["elapsed"].value = status.get("elapsed_time_formatted") or "—"
        m["eta"].value = status.get("eta_formatted") or "—"
        self.metrics_epoch.value = str(done) if done else "—"
        self._render_backbone(status)
        self._render_run_info(status)
        self._render_run_config()
        self._render_outputs(status)
        hist = status.get("history") or {}
        self.loss_curves.update(hist.get("train_losses", []), hist.get("val_losses", []), total)
        self.acc_curves.update(hist.get("train_accs", []), hist.get("val_accs", []), total)
        self._render_error()
        self._sync_controls()
        self.last_status = status  # set last: a reader of last_status sees the panel drawn from it

    def _render_batch(self, status: dict[str, Any]) -> None:
        batch = status.get("batch")
        phase = status.get("phase")
        with self.batch_progress.hold_sync():
            if batch:
                self.batch_progress.max = max(int(batch["n_batches"]), 1)
                self.batch_progress.value = min(int(batch["batch"]), self.batch_progress.max)
            elif not status.get("is_training"):
                self.batch_progress.value = 0
        if batch:
            if batch["phase"] == "caching features":
                text = f"caching features: batch {batch['batch']} / {batch['n_batches']}"
            else:
                text = f"epoch {batch['epoch']} {batch['phase']}: batch {batch['batch']} / {batch['n_batches']}"
            running = []  # running means over this epoch so far, when the trainer reports them
            if batch.get("train_loss") is not None:
                running.append(f"loss {batch['train_loss']:.4f}")
            if batch.get("train_acc") is not None:
                running.append(f"acc {batch['train_acc']:.1f}%")
            if running:
                text += " · running train " + ", ".join(running)
            self.batch_label.value = html.escape(text)
        else:
            self.batch_label.value = html.escape(f"{phase}…") if phase and status.get("is_training") else ""

    def _render_badge(self, state: str) -> None:
        color = STATE_COLORS.get(state, "#757575")
        self.badge.value = (f"<span class='eegtrain-state-{state}' style='background:{color};color:white;"
                            f"padding:2px 10px;border-radius:10px;font-weight:600'>{state}</span>")

    def _render_backend(self) -> None:
        backend = str(self.client.backend)
        where = str(self.client.describe())
        if where.lower().startswith(backend.lower()):  # "server http://…": say "server" once
            where = where[len(backend):].lstrip(" —-:")
        text = f"backend: <b>{html.escape(backend)}</b> — {html.escape(where)}"
        notice = getattr(self.client, "notice", None)
        if notice:
            text += f"<br><small class='eegtrain-warn'>{html.escape(notice)}</small>"
        self.backend.value = text

    def _render_backbone(self, status: dict[str, Any]) -> None:
        backbone = status.get("backbone") or {}
        if backbone:
            css = "eegtrain-ok" if backbone.get("origin") == "pretrained" else "eegtrain-warn"
            self.backbone.value = (f"this run's backbone: <b class='{css}'>{html.escape(str(backbone.get('origin')))}"
                                   f"</b> — {html.escape(str(backbone.get('message', '')))}")
        else:
            self.backbone.value = ""

    def _render_run_info(self, status: dict[str, Any]) -> None:
        if not status.get("run_id"):
            self.run_info.value = "<span class='eegtrain-muted'>no run yet: press Start</span>"
            return
        parts = [f"run <code>{html.escape(status['run_id'])}</code>", html.escape(str(status.get("state")))]
        if status.get("started_at"):
            parts.append(f"started {html.escape(str(status['started_at']).replace('T', ' ')[:19])}")
        parts += [f"{k} {html.escape(str(status[k]))}" for k in ("device", "precision") if status.get(k)]
        if status.get("save_dir"):
            parts.append(f"save_dir <code>{html.escape(status['save_dir'])}</code>")
        self.run_info.value = " · ".join(parts)

    def _render_run_config(self) -> None:
        """The shown run's config (what differs from the defaults) and where the form differs from it."""
        status = self._status or {}
        config = status.get("config") if status.get("run_id") else None
        if not config:
            self.run_config.value = ""
            return
        props = self.form.properties
        changed = [n for n in props if n in config and config[n] != props[n].get("default")]
        items = [f"{html.escape(self.form.title(n))} <b>{html.escape(_show(config[n]))}</b>" for n in changed]
        text = "this run's config: " + (", ".join(items) + " (others default)" if items else "all defaults")
        differs = self.form.differences(config)
        if differs:
            text += (" · <span class='eegtrain-warn'>the form (next run) differs in "
                     + html.escape(", ".join(self.form.title(n) for n in differs)) + "</span>")
        else:
            text += " · <span class='eegtrain-muted'>the form holds the same config</span>"
        self.run_config.value = text

    def _render_outputs(self, status: dict[str, Any]) -> None:
        """What the shown run wrote (``files``, in its run folder), its checkpoint's epoch and
        score, and whether it replaced the top-level files in ``save_dir`` (``published``)."""
        if not status.get("run_id"):
            self.outputs.value = ""
            return
        active = bool(status.get("is_training"))
        parts = []
        files = status.get("files") or {}
        if files:
            parts.append("wrote " + ", ".join(f"<code>{html.escape(str(p))}</code>" for p in files.values()))
        if status.get("best_epoch") is not None:
            score = status.get("best_val_acc")
            score_text = f", val acc {score:.1f}%" if isinstance(score, (int, float)) else ""
            label = "best checkpoint so far" if active else "checkpoint"
            parts.append(f"{label}: epoch {status['best_epoch']}{score_text}")
        elif not active:
            parts.append("no epoch finished, so no checkpoint was written")
        if not active:
            published = status.get("published") or {}
            save_dir = html.escape(str(status.get("save_dir") or "save_dir"))
            if published:
                parts.append(f"replaced the top-level files in <code>{save_dir}</code>")
            else:
                parts.append(f"<b>the top-level files in <code>{save_dir}</code> are unchanged</b> "
                             "(only a completed run replaces them)")
        if status.get("run_dir"):
            parts.append(f"this run's folder <code>{html.escape(str(status['run_dir']))}</code>")
        self.outputs.value = "outputs: " + " · ".join(parts)

    def _render_cost(self) -> None:
        values = self.form.values()
        estimate = estimate_duration(values, self._runs) if not self.form.check() else None
        if estimate is None:
            self.cost_hint.value = ""
            return
        seconds, rec = estimate
        self.cost_hint.value = (f"<span class='eegtrain-muted'>≈ {_fmt_seconds(seconds)} on this machine "
                                f"(from run <code>{html.escape(str(rec.get('run_id')))}</code>)</span>")

    def _render_disconnected(self) -> None:
        self._render_badge("reconnecting")
        self._render_backend()
        self._render_error()
        self._sync_controls()

    def _render_error(self) -> None:
        if self._connection_error:
            message = f"Connection lost — reconnecting… ({html.escape(self._connection_error)})"
        elif self._action_error:
            message = self._action_error
        else:
            status = self._status or {}
            message = ("Training failed: " + _error_html(status["error"])) if status.get("error") else ""
        self.error.value = message

    def _sync_controls(self) -> None:
        status = self._status or {}
        connected = self._connection_error is None
        active = bool(status.get("is_training"))
        self.form.disabled = active
        problems = self.form.problems()
        if not connected:
            reason = "Start is off: the trainer is not reachable."
        elif active:
            reason = "Start is off while a run is active: Stop it or wait for it to end."
        elif problems:
            reason = "Start is off until these fields are fixed: " + "; ".join(
                f"{self.form.title(n)} ({m})" for n, m in problems.items())
        else:
            reason = ""
        self.start_button.disabled = bool(reason)
        self.start_button.tooltip = reason or "Validate the config and start training"
        self.start_hint.value = f"<span class='eegtrain-muted'>{html.escape(reason)}</span>" if reason else ""
        self.stop_button.disabled = not active or not connected or status.get("state") == "stopping"
        run_config = status.get("config") if status.get("run_id") else None
        self.use_run_config_button.disabled = active or not run_config or not self.form.differences(run_config)


def _run_key(status: dict[str, Any]) -> tuple:
    return status.get("run_id"), status.get("state")


def _epoch_text(status: dict[str, Any]) -> str:
    """One epoch numbering: the epoch being trained while active ("epoch 2 / 3" during epoch 2)."""
    total = int(status.get("total_epochs") or 0)
    done = int(status.get("current_epoch") or 0)
    state = status.get("state", "idle")
    if not status.get("run_id"):
        return "no run yet"
    if state in _ACTIVE or status.get("is_training"):
        batch = status.get("batch") or {}
        if int(batch.get("epoch") or 0) >= 1:
            return f"epoch {int(batch['epoch'])} / {total}"
        if status.get("phase") == "training" and done < total:
            return f"epoch {done + 1} / {total}"
        return f"{status.get('phase') or state} · {total} epochs planned"
    return f"epoch {done} / {total} · {state}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return format_number(value)
    if value is None:
        return "none"
    return str(value)


def _widgets_in(value: Any) -> Iterator[w.Widget]:
    if isinstance(value, w.Widget):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _widgets_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _widgets_in(item)


def _widget_tree(*roots: w.Widget) -> Iterator[w.Widget]:
    """Every widget model reachable from ``roots`` through their synced traits (children, layout,
    style, marks, axes, scales, ...), each once."""
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
