"""The notebook panel: configure, start, stop and watch the one trainer.

A thin view over a client (:mod:`eegtrain_jupyter.client`): every fact about the run
comes from the trainer's status, fetched by a daemon poller thread, so the kernel's
main thread stays free and Stop always answers. A panel opened while a run is going
(started by curl, the CLI or another notebook) shows that run with its history so far.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ..client import AlreadyTraining, ClientError, ConnectionFailed, TrainingClient, ValidationFailed, connect
from ..config import json_schema
from .form import ConfigForm
from .plots import CurvesFigure

__all__ = ["TrainingPanel", "STATE_COLORS"]

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


def _fmt_loss(x):
    return "—" if x is None else f"{x:.4f}"


def _fmt_acc(x):
    return "—" if x is None else f"{x:.1f}%"


class TrainingPanel(w.VBox):
    """Config form, Start/Stop, progress, metrics and live curves for one trainer.

    Parameters
    ----------
    client : TrainingClient or None
        ``None`` runs :func:`~eegtrain_jupyter.client.connect` (the server that launched
        this kernel, else an in-kernel trainer).
    poll_interval : float
        Seconds between status polls of the background thread.
    preset : str or None
        Preset to fill the form with (else the last run's config, or the defaults).
    data : mne.Epochs, (X, y), braindecode dataset or Windows, optional
        Train on this instead of the config's ``data`` section
        (:func:`~eegtrain_jupyter.inputs.as_windows`). With the server backend, save it under the
        server root first (:func:`~eegtrain_jupyter.inputs.save_npz`) and use an ``epochs`` source.

    Attributes
    ----------
    fields : dict[str, Widget]
        Config inputs by name; ``form`` is the :class:`~.form.ConfigForm` behind them.
    start_button, stop_button, preset, progress, batch_progress, badge, error, backend,
    backbone, run_info : Widget
        The parts a user sees (each carries an ``eegtrain-*`` CSS class).
    metrics : dict[str, Label]
        ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc``, ``best_val_acc``, ``elapsed``, ``eta``.
    loss_figure, acc_figure : bqplot.Figure
        Live curves; ``loss_curves``/``acc_curves`` hold their lines.
    last_status : dict or None
        The status most recently shown.
    """

    def __init__(self, client: TrainingClient | None = None, *, poll_interval: float = 0.5,
                 preset: str | None = None, data: Any = None, **kwargs):
        super().__init__(**kwargs)
        self.data = data
        self.add_class("eegtrain-panel")
        self.client = client if client is not None else connect()
        self.poll_interval = poll_interval
        self.last_status: dict[str, Any] | None = None
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._connection_error: str | None = None
        self._action_error: str | None = None

        self.badge = w.HTML()
        self.badge.add_class("eegtrain-badge")
        title = w.HTML("<b style='font-size:1.15em'>LaBraM EEG training</b> — relaxed vs anxious")
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

        self.start_button = w.Button(description="Start", icon="play", button_style="success",
                                     tooltip="Validate the config and start training")
        self.start_button.add_class("eegtrain-start")
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="danger",
                                    tooltip="Stop after the current batch (checkpoint and history are kept)",
                                    disabled=True)
        self.stop_button.add_class("eegtrain-stop")
        self.start_button.on_click(self._on_start)
        self.stop_button.on_click(self._on_stop)

        self.progress = w.IntProgress(value=0, min=0, max=1, description="epochs",
                                      layout={"width": "420px"})
        self.progress.add_class("eegtrain-progress")
        self.progress_label = w.Label("epoch 0 / 0")
        self.progress_label.add_class("eegtrain-progress-label")
        self.batch_progress = w.IntProgress(value=0, min=0, max=1, description="batches",
                                            layout={"width": "420px"})
        self.batch_progress.add_class("eegtrain-batch-progress")
        self.batch_label = w.Label("")
        self.batch_label.add_class("eegtrain-batch-label")

        self.metrics = {}
        cells = []
        for key, text in _METRICS.items():
            label = w.Label("—")
            label.add_class(f"eegtrain-metric-{key.replace('_', '-')}")
            self.metrics[key] = label
            cells.append(w.VBox([w.HTML(f"<small style='color:#666'>{text}</small>"), label],
                                layout={"min_width": "90px"}))
        self.metrics_box = w.HBox(cells)
        self.metrics_box.add_class("eegtrain-metrics")
        self.backbone = w.HTML()
        self.backbone.add_class("eegtrain-backbone")
        self.run_info = w.HTML()
        self.run_info.add_class("eegtrain-run")

        self.loss_curves = CurvesFigure("Loss", "cross-entropy loss", css_class="eegtrain-loss-figure")
        self.acc_curves = CurvesFigure("Accuracy", "accuracy (%)", y_range=(0, 100),
                                       css_class="eegtrain-acc-figure")
        self.loss_figure = self.loss_curves.figure
        self.acc_figure = self.acc_curves.figure

        self.children = [
            w.HBox([title, self.badge], layout={"align_items": "center", "grid_gap": "12px"}),
            self.backend,
            self.form.widget,
            w.HBox([self.start_button, self.stop_button]),
            self.error,
            w.HBox([self.progress, self.progress_label]),
            w.HBox([self.batch_progress, self.batch_label]),
            self.metrics_box,
            self.backbone,
            self.run_info,
            w.HBox([self.loss_figure, self.acc_figure]),
        ]

        self.refresh()
        status = self.last_status
        with self._lock:
            if preset is not None:
                self.preset.value = preset
            elif status is not None and status.get("config"):
                self.form.set_values(status["config"])
            self._sync_controls()
        self._poller = threading.Thread(target=self._poll, name="eegtrain-panel-poller", daemon=True)
        self._poller.start()

    # -- public ------------------------------------------------------------------------
    def refresh(self) -> dict[str, Any] | None:
        """Fetch the status now and show it; returns it (None when the trainer is unreachable)."""
        try:
            status = self.client.status()
        except ClientError as exc:
            with self._lock:
                self._connection_error = str(exc)
                self._render_disconnected()
            return None
        with self._lock:
            self._connection_error = None
            self._render(status)
        return status

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until no run is active (or ``timeout``), then show and return the final status.

        Blocks this cell only; the poller keeps the panel live meanwhile.
        """
        status = self.client.wait(timeout)
        return self.refresh() or status

    def close(self) -> None:
        """Stop the poller and close every widget of the panel."""
        self._closing.set()
        poller = getattr(self, "_poller", None)
        if poller is not None and poller is not threading.current_thread():
            poller.join(timeout=5)
        for child in _descendants(self):
            child.close()
        super().close()

    @property
    def polling(self) -> bool:
        """Whether the background poller runs."""
        return self._poller.is_alive()

    def __repr__(self) -> str:
        return f"TrainingPanel(client={self.client!r})"

    # -- events ------------------------------------------------------------------------
    def _poll(self) -> None:
        while not self._closing.wait(self.poll_interval):
            try:
                self.refresh()
            except Exception as exc:  # never let the poller die
                with self._lock:
                    self._action_error = f"panel update failed: {type(exc).__name__}: {exc}"
                    self._render_error()

    def _form_changed(self) -> None:
        with self._lock:
            self._action_error = None
            self._render_error()
            self._sync_controls()

    def _on_start(self, _button=None) -> None:
        with self._lock:
            self._action_error = None
            config = self.form.values()
            if self.form.refresh_errors():
                self._action_error = "Fix the highlighted fields before starting."
            else:
                self._act(lambda: self._start(config))
            self._render_error()
            self._sync_controls()

    def _start(self, config: dict[str, Any]) -> dict[str, Any] | None:
        """Validate on the trainer, then start; a refusal is shown by its fields and returns None."""
        try:
            result = self.client.validate(config)
            if not result["valid"]:
                self._show_refusal("The server refused this configuration", result["errors"])
                return None
            if self.data is not None:
                if getattr(self.client, "backend", None) != "local":
                    self._action_error = ("data= needs the in-kernel trainer; with a server, save the data "
                                          "under its root (inputs.save_npz) and use an epochs source.")
                    self.refresh()
                    return None
                return self.client.start(config, data=self.data)  # type: ignore[call-arg]
            return self.client.start(config)
        except ValidationFailed as exc:
            self._show_refusal("The server refused this configuration", [e.to_dict() for e in exc.errors])
        except AlreadyTraining as exc:
            self._action_error = f"Training already in progress (run {html.escape(str(exc.run_id))})."
            self.refresh()
        return None

    def _act(self, action: Callable[[], dict[str, Any] | None]) -> None:
        """Run a client action (under the lock): render the status it returns, or show why it failed."""
        try:
            status = action()
        except ConnectionFailed as exc:
            self._connection_error = str(exc)
            self._render_disconnected()
        except ClientError as exc:
            self._action_error = html.escape(str(exc))
        else:
            if status is not None:
                self._render(status)

    def _show_refusal(self, message: str, errors: list[dict[str, str]]) -> None:
        orphans = self.form.show_server_errors(errors)
        self._action_error = html.escape(message + (": " + "; ".join(orphans) if orphans else "."))

    def _on_stop(self, _button=None) -> None:
        with self._lock:
            self._action_error = None
            self._act(self.client.stop)
            self._render_error()
            self._sync_controls()

    # -- rendering (under the lock) ----------------------------------------------------
    def _render(self, status: dict[str, Any]) -> None:
        self.last_status = status
        state = status.get("state", "idle")
        self._render_badge(state)
        self._render_backend()
        total = int(status.get("total_epochs") or 0)
        done = int(status.get("current_epoch") or 0)
        with self.progress.hold_sync():
            self.progress.max = max(total, 1)
            self.progress.value = min(done, self.progress.max)
            self.progress.bar_style = _BAR_STYLES.get(state, "info" if status.get("is_training") else "")
        self.progress_label.value = f"epoch {done} / {total}"
        self._render_batch(status)
        m = self.metrics
        m["train_loss"].value = _fmt_loss(status.get("train_loss"))
        m["val_loss"].value = _fmt_loss(status.get("val_loss"))
        m["train_acc"].value = _fmt_acc(status.get("train_acc"))
        m["val_acc"].value = _fmt_acc(status.get("val_acc"))
        m["best_val_acc"].value = _fmt_acc(status.get("best_val_acc"))
        m["elapsed"].value = status.get("elapsed_time_formatted") or "—"
        m["eta"].value = status.get("eta_formatted") or "—"
        backbone = status.get("backbone") or {}
        if backbone:
            color = "#2e7d32" if backbone.get("origin") == "pretrained" else "#ef6c00"
            self.backbone.value = (f"backbone: <b style='color:{color}'>{html.escape(str(backbone.get('origin')))}"
                                   f"</b> — {html.escape(str(backbone.get('message', '')))}")
        else:
            self.backbone.value = "backbone: —"
        if status.get("run_id"):
            parts = [f"run <code>{html.escape(status['run_id'])}</code>"]
            parts += [f"{k} {html.escape(str(status[k]))}" for k in ("device", "precision") if status.get(k)]
            if status.get("save_dir"):
                parts.append(f"save_dir <code>{html.escape(status['save_dir'])}</code>")
            self.run_info.value = " · ".join(parts)
        else:
            self.run_info.value = "no run yet"
        hist = status.get("history") or {}
        self.loss_curves.update(hist.get("train_losses", []), hist.get("val_losses", []), total)
        self.acc_curves.update(hist.get("train_accs", []), hist.get("val_accs", []), total)
        self._render_error()
        self._sync_controls()

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
            where = batch["phase"] if batch["phase"] == "caching features" else f"epoch {batch['epoch']} {batch['phase']}"
            self.batch_label.value = f"{where}: batch {batch['batch']} / {batch['n_batches']}"
        else:
            self.batch_label.value = f"{phase}…" if phase and status.get("is_training") else ""

    def _render_badge(self, state: str) -> None:
        color = STATE_COLORS.get(state, "#757575")
        self.badge.value = (f"<span class='eegtrain-state-{state}' style='background:{color};color:white;"
                            f"padding:2px 10px;border-radius:10px;font-weight:600'>{state}</span>")

    def _render_backend(self) -> None:
        text = f"backend: <b>{html.escape(self.client.backend)}</b> — {html.escape(self.client.describe())}"
        notice = getattr(self.client, "notice", None)
        if notice:
            text += f"<br><small style='color:#ef6c00'>{html.escape(notice)}</small>"
        self.backend.value = text

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
            status = self.last_status or {}
            message = html.escape(f"Training failed: {status['error']}") if status.get("error") else ""
        self.error.value = f"<span style='color:#c62828'>{message}</span>" if message else ""

    def _sync_controls(self) -> None:
        status = self.last_status or {}
        connected = self._connection_error is None
        active = bool(status.get("is_training"))
        self.form.disabled = active
        self.start_button.disabled = active or not connected or not self.form.valid
        self.stop_button.disabled = not active or not connected or status.get("state") == "stopping"


def _descendants(widget: w.Widget):
    for child in getattr(widget, "children", ()):
        if isinstance(child, w.Widget):
            yield from _descendants(child)
            yield child
