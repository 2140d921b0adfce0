"""The "Model" area for one run: its metrics, links that download its files, Export buttons and
"predict a file" (a table of windows with their times, a CSV of every window, and the agreement with
the file's own annotations where the trainer can score it).

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

import base64
import csv
import html
import io
import threading
from collections import Counter
from pathlib import PurePath
from typing import Any
from urllib.parse import quote, urlparse

import ipywidgets as w

from ..client import ConfigError, EegtrainError, TrainingClient
from .status_view import test_card_html
from .style import wrap_row

__all__ = ["ModelArea"]


SHOWN_WINDOWS = 20
"""Windows a prediction lists on the page (the CSV holds every one)."""


def file_url(client: Any, run_id: str, name: str) -> str | None:
    """The URL path the browser downloads run file ``name`` from (the server's
    ``/training/runs/{run_id}/files/{name}``, under its base URL), or None for an in-kernel trainer."""
    base = getattr(client, "url", None)
    if not isinstance(base, str):
        return None
    path = urlparse(base).path or "/"
    path = path if path.endswith("/") else path + "/"
    return f"{path}training/runs/{quote(run_id, safe='')}/files/{quote(name, safe='')}"


def downloads_html(client: Any, run_id: str, names: list[str]) -> str:
    """A link per file of the run (checkpoint, model card, ONNX export, ...), each downloading it."""
    if not names:
        return ""

    def order(name: str) -> tuple[int, str]:  # the model first: checkpoint, card, exports
        lower = name.lower()
        rank = next((i for i, end in enumerate((".pth", "card", ".onnx", ".pt2")) if end in lower), 4)
        return rank, lower

    links = []
    for name in sorted(names, key=order):
        url = file_url(client, run_id, name)
        label = html.escape(name)
        if url is None:  # an in-kernel trainer: no server to download from, the file is local
            links.append(f"<code>{label}</code>")
        else:
            links.append(
                f"<a class='eegtrain-download' href='{html.escape(url, quote=True)}' download='{label}' "
                f"target='_blank' rel='noopener'>⬇ {label}</a>"
            )
    return "<div class='eegtrain-downloads'>Download: " + " · ".join(links) + "</div>"


def predictions_csv(result: dict[str, Any]) -> str:
    """Every predicted window as CSV: index, start time (s, when known), label, one probability per class."""
    out = io.StringIO()
    writer = csv.writer(out)
    classes = [str(c) for c in result["classes"]]
    starts = result.get("window_starts_s")
    writer.writerow(["window", "start_s", "label", *(f"p_{c}" for c in classes)])
    for i, (label, proba) in enumerate(zip(result["labels"], result["probabilities"], strict=True)):
        start = "" if not starts else f"{starts[i]:.3f}"
        writer.writerow([i, start, label, *(f"{p:.6f}" for p in proba)])
    return out.getvalue()


def csv_link(result: dict[str, Any], name: str = "predictions.csv") -> str:
    """A link that saves :func:`predictions_csv` (held in the page, no file written on the server)."""
    data = base64.b64encode(predictions_csv(result).encode()).decode()
    return (
        f"<a class='eegtrain-download eegtrain-predictions-csv' download='{html.escape(name)}' "
        f"href='data:text/csv;base64,{data}'>⬇ {html.escape(name)}</a>"
    )


def windows_html(result: dict[str, Any], shown: int = SHOWN_WINDOWS) -> str:
    """The first ``shown`` windows: start time, predicted class and its probability."""
    starts = result.get("window_starts_s")
    rows = []
    for i, (label, proba) in enumerate(zip(result["labels"], result["probabilities"], strict=True)):
        if i >= shown:
            break
        start = "—" if not starts else f"{starts[i]:.1f} s"
        rows.append(
            f"<tr><td>{i}</td><td>{start}</td><td>{html.escape(str(label))}</td><td>{100 * max(proba):.0f}%</td></tr>"
        )
    more = result["n_windows"] - len(rows)
    tail = f"<div class='eegtrain-muted'>{more} more windows in the CSV</div>" if more > 0 else ""
    return (
        "<div class='eegtrain-table-scroll'><table class='eegtrain-windows'><tr><th>window</th>"
        "<th>start</th><th>predicted</th><th>probability</th></tr>" + "".join(rows) + "</table></div>" + tail
    )


def agreement_html(evaluation: dict[str, Any]) -> str:
    """How the predictions agree with the file's own annotations (the trainer's evaluation)."""
    seen = evaluation.get("seen_in_training") or []
    note = " (the run trained on this file: optimistic)" if seen else ""
    return (
        "<div class='eegtrain-agreement'>Agreement with the file's annotations: "
        f"<b>{evaluation['balanced_accuracy']:.1f}%</b> balanced accuracy, "
        f"{evaluation['accuracy']:.1f}% of {evaluation['n']} labelled windows{html.escape(note)}</div>"
    )


_TITLES = {
    "train_loss": "training loss",
    "train_acc": "training accuracy",
    "val_loss": "validation loss",
    "val_acc": "validation accuracy",
    "val_balanced_acc": "validation balanced accuracy",
    "val_roc_auc": "validation ROC AUC",
    "n": "windows",
}
_UNITLESS = ("loss", "kappa", "epoch", "n")


def _title(key: str) -> str:
    return _TITLES.get(key, key.replace("_", " ").replace("roc auc", "ROC AUC").replace("f1", "F1"))


def _with_unit(key: str, value: Any) -> Any:
    """A score in % (accuracy, F1, AUC, precision) as ``83.7%``; a loss or kappa as a plain number."""
    if not isinstance(value, float) or any(key.endswith(u) or u in key for u in _UNITLESS):
        return value
    return f"{value:.1f}%"


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e6 else f"{n_bytes / 1e3:.0f} kB"


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
        self.downloads = w.HTML()
        self.downloads.add_class("eegtrain-model-downloads")
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
        self.path.add_class("eegtrain-predict-path")
        self.path_error = w.HTML()
        self.path_error.add_class("eegtrain-field-error")
        self.predict_button = w.Button(description="Predict", icon="play")
        self.predict_button.on_click(lambda _: self.predict())
        self.prediction = w.HTML()
        self.prediction.add_class("eegtrain-prediction")
        self.error = w.HTML()
        self._thread: threading.Thread | None = None
        super().__init__(
            [
                self.title,
                self.metrics,
                self.downloads,
                w.HBox([*self.export_buttons.values()]),
                self.export_result,
                wrap_row([self.path, self.predict_button]),
                self.path_error,
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
        self.export_result.value = self.prediction.value = self.error.value = self.path_error.value = ""
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
            self.downloads.value = ""
            return
        try:
            detail = self.client.run(self.run_id)
        except EegtrainError as exc:
            self._fail(exc)
            return
        report = detail.get("test_report")
        rows: dict[str, Any] = {"state": detail["state"], "best epoch": detail["best_epoch"]}
        if not report:  # a record without its test report: the card's test metrics, with units
            rows |= {
                f"test {_title(k)}": _with_unit(k, v) for k, v in (detail.get("test_metrics") or {}).items()
            }
        chose = "validation (chose the epoch" + (
            ", so optimistic)" if report or detail.get("test_metrics") else ")"
        )
        rows |= {
            f"{_title(k)}": _with_unit(k, v)
            for k, v in (detail.get("checkpoint_metrics") or {}).items()
            if k != "epoch"
        }
        rows["scores above"] = chose
        self.metrics.value = test_card_html(report) + _table(rows)
        self.downloads.value = downloads_html(self.client, self.run_id, list(detail.get("downloads") or []))

    def predict(self) -> dict[str, Any] | None:
        """Predict the recording in ``path``: windows per label, the first windows with their times,
        a CSV of every window and, where the trainer can score the file's annotations, the agreement
        with them. A bad path is said under the box."""
        self.error.value = self.path_error.value = ""
        self.path.remove_class("eegtrain-invalid")
        if self.run_id is None:
            return None
        path = self.path.value.strip()
        if not path:
            self._path_problem("enter the path of a recording inside the server root")
            return None
        try:
            result = self.client.predict(self.run_id, path=path)
        except ConfigError as exc:
            messages = [e.message for e in exc.errors] or [str(exc)]
            self._path_problem("; ".join(messages))
            return None
        except EegtrainError as exc:
            self._fail(exc)
            return None
        counts = Counter(result["labels"])
        summary = {"windows": result["n_windows"], **{f"predicted {k}": n for k, n in counts.items()}}
        parts = [_table(summary), windows_html(result), csv_link(result)]
        agreement = self._agreement(path)
        if agreement:
            parts.append(agreement)
        self.prediction.value = "".join(parts)
        return result

    def _agreement(self, path: str) -> str:
        """The agreement with the file's annotations (the client's ``evaluate``), when the file has
        annotations the run's labels name; else a line saying there is nothing to compare with."""
        if self.run_id is None:
            return ""
        try:
            evaluation = self.client.evaluate(self.run_id, [path])
        except EegtrainError:  # no labelled annotation in the file: predictions only
            return "<div class='eegtrain-muted'>no annotations of the run's classes in this file to compare with</div>"
        return agreement_html(evaluation)

    def _path_problem(self, message: str) -> None:
        self.path_error.value = (
            f"<span class='eegtrain-error-text'>⚠ recording: {html.escape(message)}</span>"
        )
        self.path.add_class("eegtrain-invalid")

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
                self.refresh()  # the export is one of the run's downloads now
                p = res["parity"]
                verdict = "passed" if p["passed"] else "FAILED"
                self.export_result.value = _table(
                    {
                        "file": PurePath(res["path"]).name,
                        "size": _size(res["size_bytes"]),
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
