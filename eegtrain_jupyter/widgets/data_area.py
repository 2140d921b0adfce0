"""The panel's data section: the config's ``data`` source as JSON, "Check data" and its summary, and
in-memory data written to disk for a server to read.

"Check data" asks the trainer to validate the form's config (``POST /training/config/validate``),
which scans a ``files``/``epochs`` source without training and returns a ``data_summary``
(:class:`~eegtrain_jupyter.schemas.DataSummary`): windows per class and per subject, channels used
and renamed, the files' sampling rates and durations. Bad data comes back as field errors naming the
file; the panel shows them in its error line.

Data held in Python (``TrainingPanel(data=epochs)``) reaches a server as a file: :func:`stage_inputs`
writes it once, atomically, as ``.eegtrain/inputs/<content-hash>.npz`` under the kernel's working
directory, and the run gets an ``epochs`` source with that absolute path. The server reads only
inside its root, so a kernel working outside the root gets the server's 400 naming the root.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from pathlib import Path
from typing import Any

import ipywidgets as w
import numpy as np

from .style import with_class, wrap_row

__all__ = ["INPUTS_DIR", "DataArea", "stage_inputs", "summary_html"]

INPUTS_DIR = Path(".eegtrain") / "inputs"
"""Where in-memory data is written, under the kernel's working directory."""
SCANNED = ("files", "epochs")
"""Sources that "Check data" scans (synthetic data needs no check)."""


def stage_inputs(data: Any, folder: str | os.PathLike[str] | None = None, **options: Any) -> dict[str, Any]:
    """Write ``data`` (anything :func:`~eegtrain_jupyter.data.inputs.as_windows` takes, with its
    ``options``) as an ``.npz`` an ``epochs`` source reads, named by its content hash; return that
    ``epochs`` source.

    The file is written to a temporary name and renamed, so a reader never sees half of it; the
    same data again reuses the file. ``folder`` defaults to :data:`INPUTS_DIR` in the working
    directory.
    """
    from ..data.inputs import as_windows, save_npz
    from ..files import atomic_path

    windows = as_windows(data, **options)
    digest = hashlib.sha256()
    for part in (windows.X, windows.y, np.asarray(windows.subjects if windows.subjects is not None else [])):
        array = np.ascontiguousarray(part)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    digest.update(json.dumps([list(windows.ch_names), windows.sfreq, list(windows.class_names)]).encode())
    target = Path(folder or INPUTS_DIR).resolve() / f"{digest.hexdigest()[:24]}.npz"
    if not target.is_file():
        with atomic_path(target) as temp, open(temp, "wb") as fh:  # a file: numpy adds no suffix
            save_npz(windows, fh)
    window_s = float(max(1, int(np.shape(windows.X)[-1] / windows.sfreq)))
    return {"source": "epochs", "path": str(target), "window_s": window_s}


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{html.escape(str(k))} <b>{v}</b>" for k, v in counts.items()) or "—"


def summary_html(summary: dict[str, Any] | None) -> str:
    """The data summary as a few lines and a table of files."""
    if not summary:
        return ""
    renamed = summary.get("renamed") or {}
    lines = [
        f"<b>{summary['n_windows']}</b> windows of {summary['window_s']:g} s at {summary['sfreq']:g} Hz"
        f" from <code>{html.escape(summary['source'])}</code>"
        + (" (cached)" if summary.get("cached") else ""),
        f"per class: {_counts(summary['windows_per_class'])}",
        f"per subject: {_counts(summary.get('windows_per_subject') or {})}",
        f"channels ({len(summary['ch_names'])}): {html.escape(', '.join(summary['ch_names']))}",
        "renamed: "
        + (
            ", ".join(f"{html.escape(a)} → {html.escape(b)}" for a, b in renamed.items())
            if renamed
            else "none"
        ),
    ]
    files = summary.get("files") or []
    if files:
        head = "<tr><th>file</th><th>subject</th><th>Hz</th><th>channels</th><th>duration</th><th>windows</th></tr>"
        rows = "".join(
            f"<tr><td><code>{html.escape(f['path'])}</code></td><td>{html.escape(str(f.get('subject') or '—'))}</td>"
            f"<td>{f['sfreq']:g}</td><td>{f['n_channels']}</td><td>{f['duration_s']:.1f} s</td>"
            f"<td>{f['n_windows']}</td></tr>"
            for f in files
        )
        lines.append(f"<table class='eegtrain-data-files'>{head}{rows}</table>")
    return "<br>".join(lines)


class DataArea:
    """The ``data`` section of the form as JSON, "Check data" and the summary of the last check.

    Parameters
    ----------
    form : ConfigForm
        Its ``sections["data"]`` is what the text box edits.
    in_memory : str or None
        Set when the panel trains on data held in Python: says so instead of the editor.

    Attributes
    ----------
    text : Textarea
        The data source as JSON (CSS class ``eegtrain-data-source``).
    check_button : Button
        "Check data" (``eegtrain-check-data``); off for a synthetic source.
    summary : HTML
        The last check's summary (``eegtrain-data-summary``).
    widget : VBox
    """

    def __init__(self, form: Any, in_memory: str | None = None):
        self.form = form
        self.text = with_class(
            w.Textarea(layout={"width": "auto", "height": "80px"}, disabled=in_memory is not None),
            "eegtrain-data-source",
        )
        self.text_error = with_class(w.HTML(), "eegtrain-field-error")
        self.check_button = with_class(
            w.Button(description="Check data", icon="search", layout={"width": "auto"}), "eegtrain-check-data"
        )
        self.summary = with_class(w.HTML(), "eegtrain-data-summary")
        self.in_memory = in_memory
        note = (
            f"<span class='eegtrain-muted'>{html.escape(in_memory)}</span>"
            if in_memory
            else "<span class='eegtrain-muted'>the config's <code>data</code> source as JSON: "
            "<code>synthetic</code>, <code>files</code> or <code>epochs</code></span>"
        )
        self.widget = w.VBox(
            [
                wrap_row([w.HTML("<b>Data</b>"), w.HTML(note)]),
                self.text,
                self.text_error,
                wrap_row([self.check_button, self.summary], align_items="flex-start"),
            ],
            layout={"width": "100%", "min_width": "0"},
        )
        self._filling = False
        self.show_section()

    def source(self) -> str:
        data = self.form.sections.get("data") or {}
        return str(data.get("source", "synthetic")) if isinstance(data, dict) else "synthetic"

    def scanned(self) -> bool:
        """Whether "Check data" has something to scan (a files/epochs source, or in-memory data)."""
        return self.in_memory is not None or self.source() in SCANNED

    def show_section(self) -> None:
        """Write the form's data section into the text box (after the form was filled)."""
        self._filling = True
        try:
            self.text.value = json.dumps(self.form.sections.get("data") or {"source": "synthetic"}, indent=1)
        finally:
            self._filling = False
        self.text_error.value = ""
        self.sync()

    def read(self) -> str | None:
        """Take the text box into the form's data section; returns the problem, or None."""
        if self._filling or self.in_memory is not None:
            return None
        try:
            data = json.loads(self.text.value or "{}")
            if not isinstance(data, dict):
                raise ValueError("must be a JSON object")
        except ValueError as exc:
            problem = f"data is not a JSON object: {exc}"
            self.text_error.value = f"<span class='eegtrain-error-text'>⚠ {html.escape(problem)}</span>"
            self.text.add_class("eegtrain-invalid")
            return problem
        self.text_error.value = ""
        self.text.remove_class("eegtrain-invalid")
        self.form.sections["data"] = data
        self.summary.value = ""  # the last summary was of another source
        self.sync()
        return None

    def sync(self, disabled: bool = False) -> None:
        self.text.disabled = disabled or self.in_memory is not None
        self.check_button.disabled = disabled or not self.scanned()
        self.check_button.tooltip = (
            "Scan the data without training: windows per class and subject, channels, rates"
            if self.scanned()
            else "A synthetic source needs no check"
        )

    def show(self, result: dict[str, Any]) -> None:
        """Show a validation answer's ``data_summary`` (or clear it when there is none)."""
        self.summary.value = summary_html(result.get("data_summary"))
