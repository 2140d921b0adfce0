"""The form of a ``files`` data source: paths, classes per annotation, the channel table and the
subject pattern, each written into the config's ``data`` section as the user edits it.

What the recordings hold comes from the trainer's last "Check data": the annotation names and
recording channels of its :class:`~eegtrain_jupyter.schemas.DataSummary` (``files[].annotations``;
``renamed``, ``ch_names`` and ``dropped``), or, while the check fails before a summary exists, the
names its message lists (``it has: ...``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from .style import with_class, wrap_row

__all__ = ["LEFT_OUT", "NOT_USED", "FilesForm", "found_in_errors", "recording_channels"]

NOT_USED = "— not used —"
"""The class drop-down's choice for an annotation that labels no window."""
LEFT_OUT = "— left out —"
"""The channel table's choice for a recording channel the model does not get."""
SUBJECT_EXAMPLE = r"sub-(?P<subject>\d+)"
"""The subject pattern the field shows as an example (``sub-01_task-rest.edf`` -> ``01``)."""

_ANNOTATIONS = re.compile(r"; it has: (.+)$")
_CHANNELS = re.compile(r"\(it has ([^)]*)\)|LaBraM channel name \(([^)]*)\)")


def found_in_errors(errors: list[dict[str, str]]) -> tuple[list[str], list[str]]:
    """Annotation names and recording channels that a refused check's messages list."""
    annotations: list[str] = []
    channels: list[str] = []
    for error in errors:
        message = str(error.get("message", ""))
        found = _ANNOTATIONS.search(message)
        if error.get("field") == "data.labels" and found and found.group(1) != "none":
            annotations += found.group(1).split(", ")
        names = _CHANNELS.search(message)
        if names:
            channels += (names.group(1) or names.group(2)).split(", ")
    return list(dict.fromkeys(annotations)), list(dict.fromkeys(channels))


def recording_channels(summary: dict[str, Any]) -> list[str]:
    """The recording's channel names as a summary tells them: used (by their recording name) and left out."""
    back = {dst: src for src, dst in (summary.get("renamed") or {}).items()}
    used = [back.get(name, name) for name in summary.get("ch_names") or []]
    return list(dict.fromkeys([*used, *(summary.get("dropped") or [])]))


class FilesForm:
    """The fields of a ``files`` source, kept in step with the ``data`` dict they edit.

    Parameters
    ----------
    model_channels : callable
        Returns the channel names the model knows (the channel table's choices), asked for once,
        when the table is first filled.
    on_change : callable
        Called with the new ``data`` dict after a user edit.

    Attributes
    ----------
    paths : Text
        Files or globs, comma-separated (``eegtrain-data-paths``).
    classes : Text
        Class names, comma-separated: the class drop-downs' choices (``eegtrain-data-classes``).
    labels : dict[str, Dropdown]
        A class drop-down per annotation name found (``eegtrain-data-label``).
    channels : dict[str, Dropdown]
        The model channel for each recording channel (``eegtrain-data-channel``).
    subject_pattern : Text
        The subject regex, with an example as its placeholder (``eegtrain-data-subject-pattern``).
    widget : VBox
    """

    def __init__(self, model_channels: Callable[[], list[str]], on_change: Callable[[dict[str, Any]], None]):
        self._model_channels = model_channels
        self.on_change = on_change
        self.data: dict[str, Any] = {"source": "files"}
        self.annotations: list[str] = []
        self.rec_channels: list[str] = []
        self.suggested: dict[str, str] = {}
        self._filling = False
        self._row_classes: list[str] = []
        self.paths = with_class(
            w.Text(
                description="Files",
                placeholder="rec/*.edf, more/sub-*.vhdr",
                tooltip="Files or globs, comma-separated (inside the server root)",
                layout={"width": "100%"},
            ),
            "eegtrain-data-paths",
        )
        self.classes = with_class(
            w.Text(description="Classes", placeholder="relaxed, anxious", layout={"width": "100%"}),
            "eegtrain-data-classes",
        )
        self.subject_pattern = with_class(
            w.Text(
                description="Subject",
                placeholder=f"e.g. {SUBJECT_EXAMPLE} (sub-01_task-rest.edf → 01)",
                tooltip="A regex on the file name; its group 'subject' is the subject id",
                layout={"width": "100%"},
            ),
            "eegtrain-data-subject-pattern",
        )
        self.labels: dict[str, w.Dropdown] = {}
        self.channels: dict[str, w.Dropdown] = {}
        self.labels_box = with_class(w.VBox(), "eegtrain-data-labels")
        self.channels_box = with_class(w.VBox(), "eegtrain-data-channels")
        for field in (self.paths, self.classes, self.subject_pattern):
            field.observe(lambda _: self._edited(), "value")
        self.widget = w.VBox(
            [
                self.paths,
                self.subject_pattern,
                self.classes,
                w.HTML("<b>Annotations</b> <span class='eegtrain-muted'>→ class (from Check data)</span>"),
                self.labels_box,
                w.HTML(
                    "<b>Channels</b> <span class='eegtrain-muted'>recording → model (from Check data)</span>"
                ),
                self.channels_box,
            ],
            layout={"width": "100%", "min_width": "0"},
        )

    @functools.cached_property
    def model_channels(self) -> list[str]:
        return list(self._model_channels())

    # -- from the config and the check -----------------------------------------------------
    def show(self, data: dict[str, Any]) -> None:
        """Fill the fields from a ``files`` data dict."""
        self.data = dict(data)
        labels = dict(data.get("labels") or {})
        self.annotations = list(dict.fromkeys([*self.annotations, *labels]))
        self.rec_channels = list(dict.fromkeys([*self.rec_channels, *(data.get("channel_map") or {})]))
        self._filling = True
        try:
            self.paths.value = ", ".join(data.get("paths") or [])
            self.subject_pattern.value = data.get("subject_pattern") or ""
            known = [c.strip() for c in self.classes.value.split(",") if c.strip()]
            self.classes.value = ", ".join(dict.fromkeys([*labels.values(), *known]))
            self._build_rows()
        finally:
            self._filling = False

    def found(
        self, annotations: list[str], channels: list[str], suggested: dict[str, str] | None = None
    ) -> None:
        """Add rows for annotation names and recording channels a check found."""
        self.annotations = list(dict.fromkeys([*self.annotations, *annotations]))
        self.rec_channels = list(dict.fromkeys([*self.rec_channels, *channels]))
        self.suggested = dict(suggested or {})
        self.show(self.data)

    def _class_names(self) -> list[str]:
        return list(dict.fromkeys(c.strip() for c in self.classes.value.split(",") if c.strip()))

    def _build_rows(self) -> None:
        labels = self.data.get("labels") or {}
        classes = self._row_classes = self._class_names()
        for old in [*self.labels.values(), *self.channels.values()]:
            old.close()
        self.labels = {}
        for name in self.annotations:
            value = labels.get(name, NOT_USED)
            options = [NOT_USED, *classes, *([value] if value not in classes and value != NOT_USED else [])]
            self.labels[name] = with_class(
                w.Dropdown(
                    options=options, value=value, description=name, style={"description_width": "initial"}
                ),
                "eegtrain-data-label",
            )
            self.labels[name].observe(lambda _: self._edited(), "value")
        channel_map = self.data.get("channel_map") or {}
        ch_names = self.data.get("ch_names")
        upper = {n.upper(): n for n in self.model_channels} if self.rec_channels else {}
        self.channels = {}
        for name in self.rec_channels:
            target = channel_map.get(name) or upper.get(name.upper())
            if target is None or (
                ch_names is not None and target.upper() not in {c.upper() for c in ch_names}
            ):
                value = LEFT_OUT
            else:
                value = upper.get(target.upper(), target)
            hint = self.suggested.get(name)
            dropdown = w.Dropdown(
                options=[LEFT_OUT, *self.model_channels],
                value=value if value == LEFT_OUT or value in self.model_channels else LEFT_OUT,
                description=name,
                tooltip=f"suggested: {hint}" if hint else "",
                style={"description_width": "initial"},
            )
            self.channels[name] = with_class(dropdown, "eegtrain-data-channel")
            dropdown.observe(lambda _: self._edited(), "value")
        self.labels_box.children = list(self.labels.values()) or [
            w.HTML("<span class='eegtrain-muted'>none yet: Check data lists them</span>")
        ]
        self.channels_box.children = [
            wrap_row(
                [
                    dropdown,
                    w.HTML(f"<span class='eegtrain-muted'>suggested {self.suggested[name]}</span>")
                    if name in self.suggested and dropdown.value == LEFT_OUT
                    else w.HTML(""),
                ]
            )
            for name, dropdown in self.channels.items()
        ] or [w.HTML("<span class='eegtrain-muted'>none yet: Check data lists them</span>")]

    # -- to the config -----------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The ``data`` dict the fields say (other keys of the shown dict kept as they were)."""
        data = dict(self.data)
        data["source"] = "files"
        data["paths"] = [p.strip() for p in self.paths.value.split(",") if p.strip()]
        data["labels"] = {name: d.value for name, d in self.labels.items() if d.value != NOT_USED}
        pattern = self.subject_pattern.value.strip()
        if pattern:
            data["subject_pattern"] = pattern
        else:
            data.pop("subject_pattern", None)
        if self.channels:
            upper = {n.upper() for n in self.model_channels}
            channel_map = {
                name: d.value
                for name, d in self.channels.items()
                if d.value != LEFT_OUT and d.value.upper() != name.upper()
            }
            keep = [d.value for name, d in self.channels.items() if d.value != LEFT_OUT]
            left_out = [name for name, d in self.channels.items() if d.value == LEFT_OUT]
            data["channel_map"] = channel_map
            # a left-out channel that is a model name as it stands needs ch_names to stay out
            if any(name.upper() in upper for name in left_out) or data.get("ch_names") is not None:
                data["ch_names"] = keep
            if not channel_map:
                data.pop("channel_map")
        return data

    def _edited(self) -> None:
        if self._filling:
            return
        if self._class_names() != self._row_classes:  # new class names: new drop-down choices
            self.data = self.values()
            self._filling = True
            try:
                self._build_rows()
            finally:
                self._filling = False
        self.data = self.values()
        self.on_change(self.data)
