"""The notebook panel: configure, start, stop and watch the one trainer; compare runs, search
hyper-parameters, use a trained model and benchmark models, in five tabs (Train, Runs, Search,
Model, Benchmark).

A thin view over a client (:mod:`eegtrain_jupyter.client`): every fact about the run
comes from the trainer's status, fetched by one daemon poller thread per kernel (shared
by every open panel, and refreshing the panel's search too), so the kernel's main thread stays free
and Stop always answers. A panel opened while a run is going (started by curl, the CLI or another
notebook) shows that run with its history so far. Creating a panel closes the ones created before
it in this kernel (re-running the panel cell does not pile up pollers and widget models).
"""

from __future__ import annotations

import html
import threading
import time
from typing import Any

import ipywidgets as w

from ..client import EegtrainError, TrainingClient, connect
from ..config.training import json_schema
from .actions import PanelActions
from .benchmark import BenchmarkView
from .cost import cost_html, estimate_duration
from .data_area import DataArea
from .form import ConfigForm
from .model_area import ModelArea
from .poller import POLLER, POLLER_THREAD_NAME, open_panels, widget_tree
from .runs import RunsView
from .search import SearchView
from .status_view import RunView, backend_html, badge_html, error_html
from .style import STATE_COLORS, section, style_widget, with_class, wrap_row

__all__ = [
    "POLLER_THREAD_NAME",
    "STATE_COLORS",
    "TAB_TITLES",
    "TrainingPanel",
    "estimate_duration",
    "open_panels",
]

TAB_TITLES = ("Train", "Runs", "Search", "Model", "Benchmark")


class TrainingPanel(PanelActions, w.VBox):
    """Config form, Start/Stop, progress, metrics, curves and the test confusion matrix for one
    trainer (tab "Train"), the runs table ("Runs"), a search ("Search") and the shown run's model
    ("Model").

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
        (:func:`~eegtrain_jupyter.data.inputs.as_windows`). The in-kernel trainer takes it as is; for a
        server it is written to ``.eegtrain/inputs/<hash>.npz`` under the working directory
        (:func:`~.data_area.stage_inputs`) and sent as an ``epochs`` source.
    data_options : dict, optional
        ``as_windows`` options for ``data``: numpy ``(X, y)`` needs ``ch_names`` and ``sfreq``.
    replace : bool
        Close the panels created before this one in this kernel (default): re-running the
        panel cell then leaves one panel, one poller thread and no orphaned widget models.

    Attributes
    ----------
    fields : dict[str, Widget]
        Config inputs by name; ``form`` is the :class:`~.form.ConfigForm` behind them.
    start_button, stop_button, use_run_config_button, preset, error, backend, start_hint, cost_hint : Widget
        The parts a user sees (each carries an ``eegtrain-*`` CSS class).
    badge, run_info, run_config, backbone, progress, progress_label, batch_progress, batch_label,
    metrics, metrics_epoch, metrics_box, outputs, loss_curves, acc_curves, confusion
        The parts of ``view`` (:class:`~.status_view.RunView`), the run shown.
    loss_figure, acc_figure : bqplot.Figure
        Live curves.
    data_area : DataArea
        The data source, "Check data" and its summary.
    tabs : Tab
        :data:`TAB_TITLES`; ``runs_view`` (:class:`~.runs.RunsView`), ``search_view``
        (:class:`~.search.SearchView`), ``model_area`` (:class:`~.model_area.ModelArea`) and
        ``benchmark_view`` (:class:`~.benchmark.BenchmarkView`) fill the last four, on this panel's
        client, each put on the page when its tab is first chosen (:meth:`show_tab`; ``pages``
        holds the five contents). A run checked in the Runs table becomes the Model tab's run; after
        a search, the Model tab shows its best trial.
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
        data_options: dict[str, Any] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.data, self.data_options = data, dict(data_options or {})
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
        self._staged: dict[str, Any] | None = None  # ``data`` written for a server: its epochs source

        title = w.HTML(
            "<b style='font-size:1.15em'>EEG training</b> <span class='eegtrain-muted'>LaBraM and braindecode models</span>"
        )
        self.backend = with_class(w.HTML(), "eegtrain-backend")
        self.error = with_class(w.HTML(), "eegtrain-error")
        try:
            schema = self.client.schema()
        except EegtrainError as exc:  # still build the form; Start waits for the connection
            schema = json_schema()
            self._connection_error = str(exc)
        self.form = ConfigForm(schema, on_change=self._form_changed)
        self.fields, self.preset = self.form.fields, self.form.preset
        self.cost_hint = with_class(w.HTML(), "eegtrain-cost-hint")
        memory = None if data is None else f"training on data held in Python ({type(data).__name__})"
        self.data_area = DataArea(self.form, in_memory=memory)
        self.data_area.text.observe(lambda _: self._data_changed(), "value")
        self.data_area.check_button.on_click(self._on_check)

        self._make_buttons()
        self.view = RunView(self.form)
        self.loss_figure, self.acc_figure = self.view.loss_curves.figure, self.view.acc_curves.figure
        train = w.VBox(
            [
                section(
                    "Next run <span class='eegtrain-muted' style='font-weight:normal'>— the config Start uses</span>"
                ),
                with_class(
                    wrap_row(
                        [
                            self.start_button,
                            self.stop_button,
                            self.cost_hint,
                            self.start_hint,
                        ]
                    ),
                    "eegtrain-actions",
                ),
                wrap_row([self.preset, self.use_run_config_button]),
                self.form.layout({"Data": [self.data_area.widget]}),
                section(
                    "Run shown <span class='eegtrain-muted' style='font-weight:normal'>— the trainer's "
                    "current or last run</span>"
                ),
                *self.view.rows(),
            ],
            layout={"min_width": "0"},
        )
        self.model_area = ModelArea(self.client)
        self.runs_view = RunsView(self.client, on_load_config=self._fill, on_choose=self.model_area.show)
        self.search_view = SearchView(
            self.client, base_config=self.form.values, on_apply=self._fill, follow=False
        )
        self.benchmark_view = BenchmarkView(self.client, base_config=self.form.values, follow=False)
        # a tab's content is put on the page when the tab is first chosen: a plot drawn in a hidden
        # tab has no width (bqplot then draws negative-width rectangles)
        self.pages = [
            train,
            self.runs_view.widget,
            self.search_view.widget,
            self.model_area,
            self.benchmark_view.widget,
        ]
        self.tabs = with_class(
            w.Tab(
                [train, *(w.VBox(layout={"min_width": "0"}) for _ in self.pages[1:])],
                titles=TAB_TITLES,
                layout={"min_width": "0"},
            ),
            "eegtrain-tabs",
        )
        self.tabs.observe(lambda change: self.show_tab(change["new"]), "selected_index")
        self.children = [style_widget(), wrap_row([title, self.badge]), self.backend, self.error, self.tabs]

        self.refresh()
        status = self.last_status
        with self._lock:
            if preset is not None:
                self.preset.value = preset
            elif status is not None and status.get("run_id") and status.get("config"):
                self.form.set_values(status["config"])
                self.data_area.show_section()
            self._load_runs(status)
            self._render_run_config()
            self._sync_controls()
        self._next_poll = time.monotonic() + poll_interval
        POLLER.add(self)

    def __getattr__(self, name: str) -> Any:
        view = self.__dict__.get("view")  # its parts are the panel's too: panel.progress, panel.metrics...
        if view is not None and not name.startswith("_") and name in vars(view):
            return getattr(view, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- public ------------------------------------------------------------------------
    def show_tab(self, index: int | None) -> None:
        """Put tab ``index``'s content on the page (once) and choose it."""
        if index is None:
            return
        holder = self.tabs.children[index]
        if holder is not self.pages[index] and not holder.children:
            holder.children = [self.pages[index]]
        if self.tabs.selected_index != index:
            self.tabs.selected_index = index
        with self._lock:
            self.view.show(index == 0)

    def refresh(self) -> dict[str, Any] | None:
        """Fetch the status now and show it; returns it (None when the trainer is unreachable)."""
        try:
            status = self.client.status()
        except EegtrainError as exc:
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
        roots = [
            self,
            *self.pages,  # a tab's content not put on the page yet
            *self.runs_view.spare_widgets(),
            self.view.confusion.figure,  # off the page while there is no test report
            *([self.form.widget] if "widget" in vars(self.form) else []),
        ]
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
            if self.search_view.running:
                self.search_view.refresh()
            if self.benchmark_view.running:
                self.benchmark_view.refresh()
        except Exception as exc:  # never let the poller die
            with self._lock:
                self._action_error = html.escape(f"panel update failed: {type(exc).__name__}: {exc}")
                self._render_error()

    def _load_runs(self, status: dict[str, Any] | None) -> None:
        """Past runs, for the cost hint and the Runs tab, and the Model tab's run (again when a
        run has ended)."""
        self._runs_seen = _run_key(status or {})
        self.runs_view.refresh()
        if status and status.get("run_id") and not status.get("is_training"):
            shown = status["run_id"]
            if shown in self.runs_view.trial_ids and self.runs_view.best_trial:
                shown = self.runs_view.best_trial  # after a search: its best trial, not its last
            self.model_area.show(shown)
        self._runs = list(self.runs_view.runs)
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
        if self.form.check():
            self.cost_hint.value = ""
            return
        self.cost_hint.value = cost_html(self.form.values(), self._runs, self.runs_view.trial_ids)

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
        self.data_area.sync(disabled=active)
        problems = self.form.problems()
        if self.data_area.text_error.value:
            problems["data"] = "not a JSON object"
        if not connected:
            reason = "Start is off: the trainer is not reachable."
        elif active:
            reason = "Start is off while a run is active: Stop it or wait for it to end."
        elif problems:
            reason = "Start is off until these fields are fixed: " + "; ".join(
                f"{self.form.title(n) if n in self.fields else n} ({m})" for n, m in problems.items()
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
