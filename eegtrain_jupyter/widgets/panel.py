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
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ..client import AlreadyTraining, ClientError, ConnectionFailed, TrainingClient, ValidationFailed, connect
from ..config import json_schema
from .cost import cost_html, estimate_duration
from .form import ConfigForm
from .poller import POLLER, POLLER_THREAD_NAME, open_panels, widget_tree
from .status_view import RunView, backend_html, badge_html, error_html
from .style import STATE_COLORS, section, style_widget, with_class, wrap_row

__all__ = ["POLLER_THREAD_NAME", "STATE_COLORS", "TrainingPanel", "estimate_duration", "open_panels"]


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
    data : mne.Epochs, (X, y), braindecode dataset or Windows, optional
        Train on this instead of the config's ``data`` section
        (:func:`~eegtrain_jupyter.inputs.as_windows`). With the server backend, save it under the
        server root first (:func:`~eegtrain_jupyter.inputs.save_npz`) and use an ``epochs`` source.
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
    view : RunView
        The run-shown section, whose widgets are the attributes above.
    loss_figure, acc_figure : bqplot.Figure
        Live curves; ``loss_curves``/``acc_curves`` hold their lines.
    last_status : dict or None
        The status most recently shown (set once the whole panel shows it).
    """

    def __init__(
        self,
        client: TrainingClient | None = None,
        *,
        poll_interval: float = 0.5,
        preset: str | None = None,
        replace: bool = True,
        data: Any = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.data = data
        if replace:
            for old in POLLER.panels():
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

        title = w.HTML(
            "<b style='font-size:1.15em'>LaBraM EEG training</b>"
            " <span class='eegtrain-muted'>relaxed vs anxious</span>"
        )
        self.backend = with_class(w.HTML(), "eegtrain-backend")
        self.error = with_class(w.HTML(), "eegtrain-error")

        try:
            schema = self.client.schema()
        except ClientError as exc:  # still build the form; Start waits for the connection
            schema = json_schema()
            self._connection_error = str(exc)
        self.form = ConfigForm(schema, on_change=self._form_changed)
        self.fields = self.form.fields
        self.preset = self.form.preset
        self.cost_hint = with_class(w.HTML(), "eegtrain-cost-hint")

        self.start_button = with_class(
            w.Button(
                description="Start",
                icon="play",
                button_style="success",
                tooltip="Validate the config and start training",
            ),
            "eegtrain-start",
        )
        self.stop_button = with_class(
            w.Button(
                description="Stop",
                icon="stop",
                button_style="danger",
                disabled=True,
                tooltip="Stop after the current batch (checkpoint and history are kept)",
            ),
            "eegtrain-stop",
        )
        self.use_run_config_button = with_class(
            w.Button(
                description="Use this run's config",
                icon="copy",
                disabled=True,
                tooltip="Fill the form (the next run's config) with the config of the run shown below",
                layout={"width": "auto"},
            ),
            "eegtrain-use-run-config",
        )
        self.start_hint = with_class(w.HTML(), "eegtrain-start-hint")
        self.start_button.on_click(self._on_start)
        self.stop_button.on_click(self._on_stop)
        self.use_run_config_button.on_click(self._on_use_run_config)

        view = self.view = RunView(self.form)
        self.badge, self.run_info, self.run_config, self.backbone = (
            view.badge,
            view.run_info,
            view.run_config,
            view.backbone,
        )
        self.progress, self.progress_label, self.batch_progress, self.batch_label = (
            view.progress,
            view.progress_label,
            view.batch_progress,
            view.batch_label,
        )
        self.metrics, self.metrics_epoch, self.metrics_box, self.outputs = (
            view.metrics,
            view.metrics_epoch,
            view.metrics_box,
            view.outputs,
        )
        self.loss_curves, self.acc_curves = view.loss_curves, view.acc_curves
        self.loss_figure, self.acc_figure = view.loss_curves.figure, view.acc_curves.figure

        self.children = [
            style_widget(),
            wrap_row([title, self.badge]),
            self.backend,
            section(
                "Next run <span class='eegtrain-muted' style='font-weight:normal'>— the config "
                "Start uses</span>"
            ),
            wrap_row([self.preset, self.cost_hint]),
            self.form.grid,
            wrap_row([self.start_button, self.stop_button, self.use_run_config_button, self.start_hint]),
            self.error,
            section(
                "Run shown <span class='eegtrain-muted' style='font-weight:normal'>— the trainer's "
                "current or last run</span>"
            ),
            *view.rows(),
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
        POLLER.add(self)

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
        POLLER.remove(self)
        roots = [self, *([self.form.widget] if "widget" in vars(self.form) else [])]
        for widget in list(widget_tree(*roots)):
            if widget is not self:
                widget.close()
        super().close()

    @property
    def polling(self) -> bool:
        """Whether the kernel's poller thread is polling this panel."""
        return POLLER.polls(self)

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
            if self.data is not None:
                if getattr(self.client, "backend", None) != "local":
                    self._action_error = (
                        "data= needs the in-kernel trainer; with a server, save the data "
                        "under its root (inputs.save_npz) and use an epochs source."
                    )
                    self.refresh()
                    return None
                return self.client.start(config, data=self.data)  # type: ignore[call-arg]
            return self.client.start(config)
        except ValidationFailed as exc:
            self._show_refusal(
                "The trainer refused this configuration", [e.to_dict() for e in exc.errors], fallback=str(exc)
            )
        except AlreadyTraining as exc:
            self.refresh()  # show that run first: the message below belongs to its state
            self._action_error = (
                f"Training already in progress (run {html.escape(str(exc.run_id))}); it is shown below."
            )
        return None

    def _act(self, action: Callable[[], dict[str, Any] | None]) -> None:
        """Run a client action (under the lock): render the status it returns, or show why it failed."""
        try:
            status = action()
        except ConnectionFailed as exc:
            self._connection_error = str(exc)
            self._render_disconnected()
        except ClientError as exc:
            self._action_error = error_html(str(exc))
        else:
            if status is not None:
                self._render(status)

    def _show_refusal(self, message: str, errors: list[dict[str, str]], fallback: str = "") -> None:
        orphans = self.form.show_server_errors(errors)
        if errors and not orphans:
            names = ", ".join(self.form.title(n) for n in self.form.server_errors)
            self._action_error = html.escape(f"{message}: see {names} above.")
        else:
            reason = "; ".join(orphans) or fallback or "no reason given"
            self._action_error = html.escape(f"{message}: {reason}")

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
        self.view.render(status)
        self._render_backend()
        self._render_error()
        self._sync_controls()
        self.last_status = status  # set last: a reader of last_status sees the panel drawn from it

    def _render_backend(self) -> None:
        self.backend.value = backend_html(self.client)

    def _render_run_config(self) -> None:
        self.view.render_run_config(self._status or {})

    def _render_cost(self) -> None:
        self.cost_hint.value = "" if self.form.check() else cost_html(self.form.values(), self._runs)

    def _render_disconnected(self) -> None:
        self.badge.value = badge_html("reconnecting")
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
            message = ("Training failed: " + error_html(status["error"])) if status.get("error") else ""
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
                f"{self.form.title(n)} ({m})" for n, m in problems.items()
            )
        else:
            reason = ""
        self.start_button.disabled = bool(reason)
        self.start_button.tooltip = reason or "Validate the config and start training"
        self.start_hint.value = f"<span class='eegtrain-muted'>{html.escape(reason)}</span>" if reason else ""
        self.stop_button.disabled = not active or not connected or status.get("state") == "stopping"
        run_config = status.get("config") if status.get("run_id") else None
        same = not run_config or not self.form.differences(run_config)
        self.use_run_config_button.disabled = active or same


def _run_key(status: dict[str, Any]) -> tuple:
    return status.get("run_id"), status.get("state")
