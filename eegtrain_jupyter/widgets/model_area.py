"""The "Model" area for one run: its metrics, Export buttons and "predict a file".

A thin view over a client's run methods (:meth:`~eegtrain_jupyter.client.RemoteClient.run`,
``predict``, ``export``), so it works against the server or an in-kernel trainer alike. Exports take
tens of seconds on a CPU: they run in a daemon thread and the area says so while they do.
:class:`~eegtrain_jupyter.widgets.TrainingPanel` shows it in its "Model" tab for the run it shows
(:meth:`ModelArea.show`); on its own::

    from eegtrain_jupyter.client import connect
    from eegtrain_jupyter.widgets.model_area import ModelArea

    ModelArea(connect(), run_id)
"""

from __future__ import annotations

import html
import threading
from collections import Counter
from typing import Any

import ipywidgets as w

from ..client import EegtrainError, TrainingClient

__all__ = ["ModelArea"]

_REPORT_KEYS = (
    "n",
    "balanced_accuracy",
    "accuracy",
    "cohen_kappa",
    "macro_f1",
    "weighted_f1",
    "roc_auc",
    "average_precision",
    "epoch",
)


def _table(rows: dict[str, Any]) -> str:
    cells = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(str(k))}</th>"
        f"<td>{html.escape(f'{v:.4g}' if isinstance(v, float) else str(v))}</td></tr>"
        for k, v in rows.items()
    )
    return f"<table class='eegtrain-model-table'>{cells}</table>"


class ModelArea(w.VBox):
    """Metrics of a run's best checkpoint, Export (ONNX, torch.export) and prediction for a recording.

    Parameters
    ----------
    client : TrainingClient
    run_id : str or None
        The run shown (None: none yet; see :meth:`show`).
    """

    def __init__(self, client: TrainingClient, run_id: str | None = None):
        self.client, self.run_id = client, run_id
        self.title = w.HTML()
        self.metrics = w.HTML()
        self.export_buttons = {
            fmt: w.Button(description=label, icon="download", tooltip=f"export as {label} and check parity")
            for fmt, label in (("onnx", "ONNX"), ("torch_export", "torch.export"))
        }
        for fmt, button in self.export_buttons.items():
            button.on_click(lambda _, fmt=fmt: self.export(fmt, background=True))
        self.export_result = w.HTML()
        self.path = w.Text(
            placeholder="recording inside the root (.fif, .edf, *-epo.fif, .npy)",
            description="recording",
            layout=w.Layout(width="32em"),
        )
        self.predict_button = w.Button(description="Predict", icon="play")
        self.predict_button.on_click(lambda _: self.predict())
        self.prediction = w.HTML()
        self.error = w.HTML()
        self._thread: threading.Thread | None = None
        super().__init__(
            [
                self.title,
                self.metrics,
                w.HBox([*self.export_buttons.values()]),
                self.export_result,
                w.HBox([self.path, self.predict_button]),
                self.prediction,
                self.error,
            ]
        )
        self.add_class("eegtrain-model-area")
        self.refresh()

    def _fail(self, exc: EegtrainError) -> None:
        self.error.value = f"<span style='color:#c62828'>{html.escape(str(exc))}</span>"

    def show(self, run_id: str | None) -> None:
        """Show another run (its metrics; the last export and prediction are cleared)."""
        if run_id == self.run_id:
            return
        self.run_id = run_id
        self.export_result.value = self.prediction.value = self.error.value = ""
        self.refresh()

    def refresh(self) -> None:
        """Show the run's metrics: the test split's when it has one, then the validation split's
        (which chose the checkpoint, so optimistic), each said as such."""
        self.title.value = f"<b>Model</b> — run {html.escape(self.run_id or '(none yet)')}"
        self.predict_button.disabled = self.run_id is None
        for button in self.export_buttons.values():
            button.disabled = self.run_id is None
        if self.run_id is None:
            self.metrics.value = "<span class='eegtrain-muted'>no finished run yet</span>"
            return
        try:
            detail = self.client.run(self.run_id)
        except EegtrainError as exc:
            self._fail(exc)
            return
        report = detail.get("test_report") or {}  # the record's test report, else the card's test metrics
        test = {k: report[k] for k in _REPORT_KEYS if report.get(k) is not None} or detail.get("test_metrics")
        rows = {"state": detail["state"], "best epoch": detail["best_epoch"]}
        rows |= {f"test {k}": v for k, v in (test or {}).items()}
        rows["validation"] = "the split that chose this checkpoint" + (" (optimistic)" if test else "")
        rows |= detail.get("checkpoint_metrics") or {}
        self.metrics.value = _table(rows)

    def predict(self) -> dict[str, Any] | None:
        """Predict the recording in ``path``; show the windows per label and the first few rows."""
        self.error.value = ""
        if self.run_id is None:
            return None
        try:
            result = self.client.predict(self.run_id, path=self.path.value.strip())
        except EegtrainError as exc:
            self._fail(exc)
            return None
        counts = Counter(result["labels"])
        first = {
            f"window {i}": f"{lab} ({max(p):.2f})"
            for i, (lab, p) in enumerate(zip(result["labels"], result["probabilities"], strict=True))
            if i < 5
        }
        summary = {"windows": result["n_windows"], **{f"labelled {k}": n for k, n in counts.items()}, **first}
        self.prediction.value = _table(summary)
        return result

    def export(self, fmt: str, background: bool = False) -> None:
        """Export as ``fmt``; in a daemon thread when ``background`` (the buttons do)."""
        run_id = self.run_id
        if run_id is None or (self._thread is not None and self._thread.is_alive()):
            return
        for button in self.export_buttons.values():
            button.disabled = True
        self.export_result.value = f"exporting as {html.escape(fmt)} and checking it against torch…"
        self.error.value = ""

        def work() -> None:
            try:
                res = self.client.export(run_id, fmt)
                p = res["parity"]
                verdict = "passed" if p["passed"] else "FAILED"
                self.export_result.value = _table(
                    {
                        "file": res["path"],
                        "size": f"{res['size_bytes'] / 1e6:.1f} MB",
                        f"parity ({p['runtime']})": f"{verdict}: max |Δp| {p['max_abs_diff']:.1e} "
                        f"≤ {p['tolerance']:g} over {p['n_windows']} windows",
                    }
                )
            except EegtrainError as exc:
                self.export_result.value = ""
                self._fail(exc)
            finally:
                for button in self.export_buttons.values():
                    button.disabled = False

        if background:
            self._thread = threading.Thread(target=work, name="eegtrain-export-ui", daemon=True)
            self._thread.start()
        else:
            work()
