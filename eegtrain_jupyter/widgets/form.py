"""A config form generated from the training config's JSON Schema.

Numbers use unbounded ``IntText``/``FloatText`` so an out-of-range value stays visible
and is reported next to its field instead of being silently clamped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import ipywidgets as w

__all__ = ["ConfigForm", "CUSTOM_PRESET", "PRESET_KEEPS", "check_value"]

CUSTOM_PRESET = "(custom)"
PRESET_KEEPS = ("save_dir", "pretrained_weights")
"""Fields a preset leaves as they are (paths, not hyper-parameters)."""

_DESCRIPTION_STYLE = {"description_width": "170px"}
_WIDTH = "330px"


def _kind(prop: dict[str, Any]) -> tuple[str, bool]:
    """(type, nullable) of a schema property."""
    if "anyOf" in prop:
        kinds = [p.get("type") for p in prop["anyOf"]]
        return next(k for k in kinds if k != "null"), "null" in kinds
    return prop.get("type", "string"), False


def _fmt(x: float) -> str:
    return f"{x:g}"


def check_value(prop: dict[str, Any], value: Any) -> str | None:
    """The message for ``value`` breaking the property's schema, or None when it is fine."""
    kind, nullable = _kind(prop)
    if value is None:
        return None if nullable else "required"
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "must be a number"
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        if kind == "integer" and int(value) != value:
            return "must be a whole number"
        lo, hi = prop.get("minimum"), prop.get("maximum")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            if lo is not None and hi is not None:
                return f"must be between {_fmt(lo)} and {_fmt(hi)}"
            return f"must be ≥ {_fmt(lo)}" if lo is not None else f"must be ≤ {_fmt(hi)}"
        if "exclusiveMinimum" in prop and value <= prop["exclusiveMinimum"]:
            return f"must be > {_fmt(prop['exclusiveMinimum'])}"
        if "exclusiveMaximum" in prop and value >= prop["exclusiveMaximum"]:
            return f"must be < {_fmt(prop['exclusiveMaximum'])}"
    if kind == "string":
        if not isinstance(value, str):
            return "must be text"
        if len(value) < prop.get("minLength", 0):
            return "must not be empty" if prop.get("minLength") == 1 else f"needs ≥ {prop['minLength']} characters"
        if "maxLength" in prop and len(value) > prop["maxLength"]:
            return f"needs ≤ {prop['maxLength']} characters"
    if "enum" in prop and value not in prop["enum"]:
        return f"must be one of {', '.join(map(str, prop['enum']))}"
    return None


class ConfigForm:
    """Widgets for every property of the schema, a presets dropdown and per-field errors.

    Parameters
    ----------
    schema : dict
        ``config.json_schema()`` (or ``GET training/config/schema``): ``properties`` and ``presets``.
    on_change : callable
        Called with no argument after any field or preset changes.

    Attributes
    ----------
    fields : dict[str, Widget]
        The input widget of each field, by config name.
    errors : dict[str, HTML]
        The error line next to each field.
    preset : Dropdown
        Preset names; choosing one fills the form (except :data:`PRESET_KEEPS`).
    widget : VBox
        Everything, to be displayed.
    """

    def __init__(self, schema: dict[str, Any], on_change: Callable[[], None] | None = None):
        self.schema = schema
        # nested sections (``data``) are not form fields: the panel passes them through as given
        self.properties: dict[str, dict[str, Any]] = {
            name: prop for name, prop in schema["properties"].items()
            if not ("$ref" in prop or "oneOf" in prop or prop.get("type") == "object")}
        self.presets: dict[str, dict[str, Any]] = dict(schema.get("presets") or {})
        self.on_change = on_change
        self._filling = False
        self.server_errors: dict[str, str] = {}
        self.fields: dict[str, w.Widget] = {}
        self.errors: dict[str, w.HTML] = {}
        rows = []
        for name, prop in self.properties.items():
            field = self._make_field(name, prop)
            field.add_class(f"eegtrain-field-{name}")
            field.observe(self._changed, names="value")
            error = w.HTML(layout={"margin": "0 0 2px 174px"})
            error.add_class("eegtrain-field-error")
            self.fields[name], self.errors[name] = field, error
            rows.append(w.VBox([field, error]))  # the message sits under its field
        self.preset = w.Dropdown(
            options=[CUSTOM_PRESET, *self.presets], value=CUSTOM_PRESET, description="preset",
            style=_DESCRIPTION_STYLE, layout={"width": _WIDTH},
            tooltip="Fill the form with a named configuration",
        )
        self.preset.add_class("eegtrain-preset")
        self.preset.observe(self._preset_chosen, names="value")
        grid = w.GridBox(rows, layout=w.Layout(
            grid_template_columns="repeat(2, 345px)", grid_gap="0 20px"))
        self.widget = w.VBox([self.preset, grid])
        self.widget.add_class("eegtrain-form")

    # -- building ----------------------------------------------------------------------
    def _make_field(self, name: str, prop: dict[str, Any]) -> w.Widget:
        kind, _ = _kind(prop)
        default = prop.get("default")
        common = dict(
            description=name, tooltip=prop.get("description", ""),
            style=_DESCRIPTION_STYLE, layout={"width": _WIDTH},
        )
        if "enum" in prop:
            return w.Dropdown(options=list(prop["enum"]), value=default, **common)
        if kind == "boolean":
            common["layout"] = {"width": _WIDTH}
            return w.Checkbox(value=bool(default), indent=True, **common)
        if kind == "integer":
            return w.IntText(value=default if default is not None else 0, **common)
        if kind == "number":
            return w.FloatText(value=default if default is not None else 0.0, **common)
        return w.Text(value="" if default is None else str(default), placeholder="(none)", **common)

    # -- values ------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The form as a config dict (an empty text of a nullable field means None)."""
        out = {}
        for name, field in self.fields.items():
            value = field.value
            kind, nullable = _kind(self.properties[name])
            if kind == "string" and nullable and value == "":
                value = None
            elif kind == "number":
                value = float(value)
            out[name] = value
        return out

    def set_values(self, config: dict[str, Any]) -> None:
        """Fill the fields named in ``config`` (unknown names are ignored)."""
        self._filling = True
        try:
            for name, value in config.items():
                if name in self.fields:
                    self.fields[name].value = "" if value is None and isinstance(self.fields[name], w.Text) else value
        finally:
            self._filling = False
        self.server_errors.clear()
        self.refresh_errors()

    def check(self) -> dict[str, str]:
        """Client-side validation against the schema: ``{field: message}``."""
        values = self.values()
        problems = {}
        for name, prop in self.properties.items():
            message = check_value(prop, values[name])
            if message:
                problems[name] = message
        return problems

    def show_server_errors(self, errors: list[dict[str, str]] | dict[str, str]) -> list[str]:
        """Show errors from the server next to their fields; returns those naming no field."""
        if isinstance(errors, dict):
            errors = [{"field": k, "message": v} for k, v in errors.items()]
        self.server_errors.clear()
        orphans = []
        for err in errors:
            name = str(err.get("field", "")).split(".")[0]
            if name in self.fields:
                self.server_errors[name] = str(err.get("message", ""))
            else:
                orphans.append(f"{err.get('field')}: {err.get('message')}")
        self.refresh_errors()
        return orphans

    def refresh_errors(self) -> dict[str, str]:
        """Redraw every field's error line; returns the errors shown."""
        shown = {**self.server_errors, **self.check()}
        for name, label in self.errors.items():
            message = shown.get(name)
            label.value = f"<span style='color:#c62828'>⚠ {_escape(message)}</span>" if message else ""
            field = self.fields[name]
            (field.add_class if message else field.remove_class)("eegtrain-invalid")
        return shown

    @property
    def valid(self) -> bool:
        return not self.check() and not self.server_errors

    @property
    def disabled(self) -> bool:
        return self.preset.disabled

    @disabled.setter
    def disabled(self, value: bool) -> None:
        self.preset.disabled = value
        for field in self.fields.values():
            field.disabled = value

    # -- events ------------------------------------------------------------------------
    def _changed(self, change) -> None:
        if self._filling:
            return
        name = next((n for n, f in self.fields.items() if f is change["owner"]), None)
        self.server_errors.pop(name, None)
        if self.preset.value != CUSTOM_PRESET:
            self._filling = True
            try:
                self.preset.value = CUSTOM_PRESET
            finally:
                self._filling = False
        self.refresh_errors()
        if self.on_change:
            self.on_change()

    def _preset_chosen(self, change) -> None:
        if self._filling or change["new"] == CUSTOM_PRESET:
            return
        config = {k: v for k, v in self.presets[change["new"]].items() if k not in PRESET_KEEPS}
        self.set_values(config)
        if self.on_change:
            self.on_change()


def _escape(text: str) -> str:
    import html

    return html.escape(text)
