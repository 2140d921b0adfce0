"""What the panel's buttons do with its client: Start (validate, then start), Stop, "Check data",
and filling the form from a run, the runs table or a search's best trial; what a form change does.

:class:`PanelActions` is a mixin of :class:`~.panel.TrainingPanel`: each handler runs under the
panel's lock and leaves a message for the error line (``_action_error``); the panel draws it.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..client import AlreadyTrainingError, ConfigError, ConnectionFailed, EegtrainError
from .data_area import stage_inputs
from .status_view import error_html
from .style import button, with_class

__all__ = ["PanelActions"]


class PanelActions:
    """Start, Stop, Check data and form filling for :class:`~.panel.TrainingPanel`."""

    # provided by the panel
    client: Any
    data: Any
    data_options: dict[str, Any]
    form: Any
    data_area: Any
    tabs: Any
    last_status: dict[str, Any] | None
    _lock: Any
    _action_error: str | None
    _connection_error: str | None
    _staged: dict[str, Any] | None

    if TYPE_CHECKING:

        def refresh(self) -> dict[str, Any] | None: ...
        def _render(self, status: dict[str, Any]) -> None: ...
        def _render_error(self) -> None: ...
        def _render_disconnected(self) -> None: ...
        def _sync_controls(self) -> None: ...
        def _render_run_config(self) -> None: ...
        def _render_cost(self) -> None: ...
        def show_tab(self, index: int | None) -> None: ...

    def _make_buttons(self) -> None:
        """Start, Stop, "Use this run's config" (with their tooltips and handlers), and the line
        that says why Start is off."""
        self.start_button = button(
            "Start", "play", "eegtrain-start", "Validate the config and start training", "success"
        )
        self.stop_button = button(
            "Stop",
            "stop",
            "eegtrain-stop",
            "Stop after the current batch (checkpoint and history are kept)",
            "danger",
        )
        self.stop_button.disabled = True
        self.use_run_config_button = button(
            "Use this run's config",
            "copy",
            "eegtrain-use-run-config",
            "Fill the form (the next run's config) with the config of the run shown below",
        )
        self.start_hint = with_class(w.HTML(), "eegtrain-start-hint")
        self.start_button.on_click(self._on_start)
        self.stop_button.on_click(self._on_stop)
        self.use_run_config_button.on_click(
            lambda _: self._fill((self.last_status or {}).get("config") or {})
        )

    # -- the config sent -----------------------------------------------------------------
    def _request_config(self, scan: bool = False, config: dict[str, Any] | None = None) -> dict[str, Any]:
        """The form's config (or ``config``); with in-memory ``data`` that a server must read (or a
        check must scan), its ``data`` is the ``epochs`` source of the file :func:`stage_inputs` wrote."""
        config = dict(config) if config is not None else self.form.values()
        if self.data is not None and (scan or self.client.backend != "local"):
            if self._staged is None:
                self._staged = stage_inputs(self.data, **self.data_options)
            config["data"] = dict(self._staged)
        return config

    # -- buttons -------------------------------------------------------------------------
    def _on_start(self, _button=None) -> None:
        with self._lock:
            self._action_error = None
            problems = self.form.refresh_errors()
            if problems:
                names = ", ".join(self.form.title(n) for n in problems)
                self._action_error = html.escape(f"Fix the highlighted fields before starting: {names}.")
            else:
                self._act(self._start)
            self._render_error()
            self._sync_controls()

    def _start(self, config: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Validate the form's config (or ``config``) on the trainer, then start; a refusal is shown
        by its fields and returns None."""
        try:
            config = self._request_config(config=config)
        except (TypeError, ValueError, OSError) as exc:
            self._action_error = html.escape(f"Could not write the data for the trainer: {exc}")
            return None
        try:
            result = self.client.validate(config)
            self.data_area.show(result)
            if not result["valid"]:
                self._show_refusal("The trainer refused this configuration", result["errors"])
                return None
            if self.data is not None and self.client.backend == "local":
                return self.client.start(config, data=self.data, **self.data_options)
            return self.client.start(config)
        except ConfigError as exc:
            self._show_refusal(
                "The trainer refused this configuration", [e.to_dict() for e in exc.errors], fallback=str(exc)
            )
        except AlreadyTrainingError as exc:
            self.refresh()  # show that run first: the message below belongs to its state
            self._action_error = (
                f"Training already in progress (run {html.escape(str(exc.run_id))}); it is shown below."
            )
        return None

    def _on_check(self, _button=None) -> None:
        """ "Check data": the trainer scans the data source and summarises it (no run starts); what
        it refuses is shown in the data area, next to the button."""
        with self._lock:
            self._action_error = None
            self.data_area.show_errors([])
            self.data_area.summary.value = "<span class='eegtrain-muted'>checking…</span>"
            self._act(self._check)
            if self._action_error:  # the trainer failed to answer: said by the button too
                self.data_area.error.value = f"<div class='eegtrain-error'>{self._action_error}</div>"
                self._action_error = None
            if self.data_area.error.value or self._connection_error:
                self.data_area.summary.value = ""
            self._render_error()
            self._sync_controls()

    def _check(self) -> None:
        try:
            config = self._request_config(scan=True)
        except (TypeError, ValueError, OSError) as exc:
            self.data_area.show_message(f"Could not write the data for the trainer: {exc}")
            return
        result = self.client.validate(self.data_area.probe_config(config))
        self.data_area.show(result)
        others = [e for e in result["errors"] if not str(e.get("field", "")).startswith("data")]
        if others:  # the rest of the config: shown by its fields
            self._show_refusal("The config is not valid", others)

    def _on_stop(self, _button=None) -> None:
        with self._lock:
            self._action_error = None
            self._act(self.client.stop)
            self._render_error()
            self._sync_controls()

    def _form_changed(self) -> None:
        """A field, the preset or the data box changed: stale messages go, the hints follow."""
        with self._lock:
            self._action_error = None
            self._render_error()
            self._render_run_config()
            self._render_cost()
            self._sync_controls()

    def _data_changed(self) -> None:
        with self._lock:
            if self.data_area.read() is None:
                self.form.source_changed()
                self._form_changed()
            else:
                self._sync_controls()

    def _fill(self, config: dict[str, Any]) -> None:
        """Fill the form (the next run) with ``config`` (a run's, a search's best) and show it."""
        with self._lock:
            if not config or self.form.disabled:
                return
            self.form.set_values(config)
            self.data_area.show_section()
            self.show_tab(0)
            self._form_changed()

    # -- outcomes ------------------------------------------------------------------------
    def _act(self, action: Callable[[], dict[str, Any] | None]) -> None:
        """Run a client action (under the lock): render the status it returns, or show why it failed."""
        try:
            status = action()
        except ConnectionFailed as exc:
            self._connection_error = str(exc)
            self._render_disconnected()
        except EegtrainError as exc:
            self._action_error = error_html(str(exc))
        else:
            if status is not None:
                self._render(status)

    def _show_refusal(self, message: str, errors: list[dict[str, str]], fallback: str = "") -> None:
        data = [e for e in errors if str(e.get("field", "")).startswith("data")]
        if data:  # shown in the data area, by "Check data"
            self.data_area.show_errors(data, message)
            errors = [e for e in errors if e not in data]
            if not errors:
                self._action_error = html.escape(f"{message}: see Data above.")
                return
        orphans = self.form.show_server_errors(errors)
        if errors and not orphans:
            names = ", ".join(self.form.title(n) for n in self.form.server_errors)
            self._action_error = html.escape(f"{message}: see {names} above.")
        else:
            reason = "; ".join(orphans) or fallback or "no reason given"
            self._action_error = html.escape(f"{message}: {reason}")
