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
    dropped = summary.get("dropped") or []
    suggested = summary.get("suggested_channel_map") or {}
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
    if dropped:
        lines.append(
            f"<span class='eegtrain-warning'>left out ({len(dropped)}): "
            + ", ".join(
                html.escape(name)
                + (f" (could be {html.escape(suggested[name])})" if name in suggested else "")
                for name in dropped
            )
            + "</span>"
        )
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


_SUGGESTION = "suggested channel_map: "


def suggestion_in(errors: list[dict[str, str]]) -> dict[str, str]:
    """The ``channel_map`` a refused check suggests (the JSON object at the end of its message)."""
    out: dict[str, str] = {}
    for error in errors:
        message = str(error.get("message", ""))
        if _SUGGESTION in message:
            try:
                found, _ = json.JSONDecoder().raw_decode(message.split(_SUGGESTION, 1)[1])
            except ValueError:
                continue
            if isinstance(found, dict):
                out.update({str(k): str(v) for k, v in found.items()})
    return out


class DataArea:
    """The ``data`` section of the config: a form for a ``files`` source, the JSON (the "advanced"
    view, kept in step), "Check data", its errors, its summary and "Apply suggestion".

    Parameters
    ----------
    form : ConfigForm
        Its ``sections["data"]`` is what the data area edits.
    in_memory : str or None
        Set when the panel trains on data held in Python: says so instead of the editor.
    model_channels : list of str, optional
        The channel names the model knows (the channel table's choices); LaBraM's by default.

    Attributes
    ----------
    kind : Dropdown
        The source: synthetic, files or epochs (``eegtrain-data-kind``).
    files_form : FilesForm
        The fields of a ``files`` source (shown for one).
    text : Textarea
        The data source as JSON (CSS class ``eegtrain-data-source``), under "Advanced (JSON)".
    check_button : Button
        "Check data" (``eegtrain-check-data``); off for a synthetic source.
    error : HTML
        Why the last check (or Start) refused the data, next to the button (``eegtrain-data-error``).
    apply_button : Button
        "Apply suggestion" (``eegtrain-apply-suggestion``): the suggested ``channel_map`` into the config;
        shown while there is one.
    suggestion : dict[str, str]
        The ``channel_map`` entries the last check suggested.
    summary : HTML
        The last check's summary (``eegtrain-data-summary``).
    widget : VBox
    """

    def __init__(self, form: Any, in_memory: str | None = None, model_channels: list[str] | None = None):
        from .files_form import FilesForm

        self.form = form
        self.text = with_class(
            w.Textarea(layout={"width": "auto", "height": "80px"}, disabled=in_memory is not None),
            "eegtrain-data-source",
        )
        self.text_error = with_class(w.HTML(), "eegtrain-field-error")
        self.kind = with_class(
            w.Dropdown(
                options=["synthetic", "files", "epochs"], description="Source", layout={"width": "auto"}
            ),
            "eegtrain-data-kind",
        )
        self.files_form = FilesForm(
            (lambda: list(model_channels)) if model_channels else _labram_channels, self._files_edited
        )
        self.check_button = with_class(
            w.Button(description="Check data", icon="search", layout={"width": "auto"}), "eegtrain-check-data"
        )
        self.error = with_class(w.HTML(), "eegtrain-data-error")
        self.apply_button = with_class(
            w.Button(
                description="Apply suggestion",
                icon="magic",
                layout={"width": "auto", "display": "none"},
                tooltip="Write the suggested channel_map into the config",
            ),
            "eegtrain-apply-suggestion",
        )
        self.apply_button.on_click(lambda _: self.apply_suggestion())
        self.suggestion: dict[str, str] = {}
        self.summary = with_class(w.HTML(), "eegtrain-data-summary")
        self.in_memory = in_memory
        note = (
            f"<span class='eegtrain-muted'>{html.escape(in_memory)}</span>"
            if in_memory
            else "<span class='eegtrain-muted'>the config's <code>data</code> source</span>"
        )
        self.note = w.HTML(note)
        self.advanced = w.Accordion([w.VBox([self.text, self.text_error])], titles=("Advanced (JSON)",))
        self.advanced.selected_index = None
        self.widget = w.VBox(
            [
                wrap_row([self.kind, self.note]),
                self.files_form.widget,
                self.advanced,
                wrap_row([self.check_button, self.apply_button, self.error], align_items="flex-start"),
                self.summary,
            ],
            layout={"width": "100%", "min_width": "0"},
        )
        self._filling = False
        self.kind.observe(self._kind_chosen, "value")
        self.show_section()

    def source(self) -> str:
        data = self.form.sections.get("data") or {}
        return str(data.get("source", "synthetic")) if isinstance(data, dict) else "synthetic"

    def scanned(self) -> bool:
        """Whether "Check data" has something to scan (a files/epochs source, or in-memory data)."""
        return self.in_memory is not None or self.source() in SCANNED

    def show_section(self) -> None:
        """Show the form's data section in the fields and the JSON (after the form was filled)."""
        data = self.form.sections.get("data") or {"source": "synthetic"}
        self._filling = True
        try:
            self.text.value = json.dumps(data, indent=1)
            if data.get("source") in self.kind.options:
                self.kind.value = data["source"]
            if data.get("source") == "files":
                self.files_form.show(data)
        finally:
            self._filling = False
        self.text_error.value = ""
        self.text.remove_class("eegtrain-invalid")
        self.files_form.widget.layout.display = "" if self.source() == "files" else "none"
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
            self.advanced.selected_index = 0
            return problem
        self.text_error.value = ""
        self.text.remove_class("eegtrain-invalid")
        self.form.sections["data"] = data
        self.summary.value = self.error.value = ""  # the last check was of another source
        self._filling = True
        try:
            if data.get("source") in self.kind.options:
                self.kind.value = data["source"]
            if data.get("source") == "files":
                self.files_form.show(data)
        finally:
            self._filling = False
        self.files_form.widget.layout.display = "" if self.source() == "files" else "none"
        self.sync()
        return None

    def _write(self, data: dict[str, Any]) -> None:
        """Put ``data`` in the JSON box; its observer (the panel's) takes it into the config."""
        self.text.value = json.dumps(data, indent=1)

    def _files_edited(self, data: dict[str, Any]) -> None:
        if not self._filling:
            self._write(data)

    def _kind_chosen(self, change) -> None:
        if self._filling or change["new"] == self.source():
            return
        starts: dict[str, dict[str, Any]] = {
            "synthetic": {"source": "synthetic"},
            "files": {"source": "files", "paths": [], "labels": {}},
            "epochs": {"source": "epochs", "path": ""},
        }
        self._write(starts[change["new"]])

    def sync(self, disabled: bool = False) -> None:
        off = disabled or self.in_memory is not None
        self.text.disabled = self.kind.disabled = off
        for child in widget_children(self.files_form.widget):
            if hasattr(child, "disabled"):
                child.disabled = off
        self.check_button.disabled = disabled or not self.scanned()
        self.apply_button.disabled = off
        self.check_button.tooltip = (
            "Scan the data without training: windows per class and subject, channels, rates"
            if self.scanned()
            else "A synthetic source needs no check"
        )

    def probe_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """``config`` as a check sends it: a ``files`` source without labels yet gets a placeholder
        label, so the trainer reads the files and answers with the annotation names they have."""
        data = config.get("data") or {}
        if data.get("source") == "files" and not data.get("labels"):
            return {**config, "data": {**data, "labels": {"(no annotation chosen yet)": "?"}}}
        return config

    def show(self, result: dict[str, Any]) -> None:
        """Show a validation answer: its ``data_summary``, or the data errors next to the button;
        what it found fills the files form, and its suggested ``channel_map`` the apply button."""
        from .files_form import found_in_errors, recording_channels

        summary = result.get("data_summary")
        errors = [e for e in result.get("errors") or [] if str(e.get("field", "")).startswith("data")]
        self.summary.value = summary_html(summary)
        self.show_errors(errors)
        if summary:
            annotations = [a for f in summary.get("files") or [] for a in f.get("annotations") or {}]
            channels = recording_channels(summary)
            self.suggestion = dict(summary.get("suggested_channel_map") or {})
        else:
            annotations, channels = found_in_errors(errors)
            self.suggestion = suggestion_in(errors)
        if self.source() == "files" and (annotations or channels):
            self.files_form.found(annotations, channels, self.suggestion)
        self.apply_button.layout.display = "" if self.suggestion else "none"
        self.apply_button.tooltip = "Write into channel_map: " + json.dumps(self.suggestion)

    def show_errors(self, errors: list[dict[str, str]], message: str = "The data check failed") -> None:
        """``errors`` (field, message) next to "Check data" (nothing when there are none)."""
        if not errors:
            self.error.value = ""
            return
        items = "".join(
            f"<li><code>{html.escape(str(e.get('field', '')))}</code>: {html.escape(str(e.get('message', '')))}</li>"
            for e in errors
        )
        self.error.value = f"<div class='eegtrain-error'>{html.escape(message)}:<ul>{items}</ul></div>"

    def show_message(self, text: str) -> None:
        """A problem with the data that is not a field error (e.g. in-memory data not written)."""
        self.error.value = f"<div class='eegtrain-error'>{html.escape(text)}</div>" if text else ""

    def apply_suggestion(self) -> None:
        """Merge the suggested ``channel_map`` into the data section (the JSON and the form follow)."""
        data = dict(self.form.sections.get("data") or {})
        if not self.suggestion or self.in_memory is not None:
            return
        data["channel_map"] = {**(data.get("channel_map") or {}), **self.suggestion}
        if data.get("ch_names") is not None:
            data["ch_names"] = list(dict.fromkeys([*data["ch_names"], *self.suggestion.values()]))
        self.suggestion = {}
        self.apply_button.layout.display = "none"
        self._write(data)


def widget_children(root: Any) -> list[Any]:
    """Every widget under ``root`` (not ``root``)."""
    out = []
    for child in getattr(root, "children", ()):
        out += [child, *widget_children(child)]
    return out


def _labram_channels() -> list[str]:
    from ..data.preprocess import labram_channel_names

    return list(labram_channel_names())
