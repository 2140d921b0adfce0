"""A config form generated from the training config's JSON Schema.

Numbers are typed into text boxes (:class:`NumberText`): what was typed stays as typed
("500", "abc", an empty box) and the form says what is wrong with it next to the field,
instead of the browser silently clamping or reverting it. Labels are the schema's
``title``s, help lines its ``description``s with the range and default. The fields are grouped in the
sections of :data:`~eegtrain_jupyter.config.names.FIELD_SECTIONS` (the rarely changed ones folded, see
:data:`~eegtrain_jupyter.config.names.COLLAPSED_SECTIONS`). Fields that apply only to some models
(:data:`~eegtrain_jupyter.config.names.MODEL_ONLY_FIELDS`) or data sources
(:data:`~eegtrain_jupyter.config.names.SOURCE_ONLY_FIELDS`) are hidden, and not sent, while another
model or source is chosen.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ..config.names import COLLAPSED_SECTIONS, FIELD_SECTIONS, MODEL_ONLY_FIELDS, SOURCE_ONLY_FIELDS
from .fields import NumberText, check_value, format_number, help_text, kind_of, parse_value, same_value

__all__ = [
    "CUSTOM_PRESET",
    "PRESET_KEEPS",
    "ConfigForm",
    "NumberText",
    "check_value",
    "format_number",
    "help_text",
    "parse_value",
]

CUSTOM_PRESET = "(custom)"
PRESET_KEEPS = ("save_dir", "pretrained_weights")
"""Fields a preset leaves as they are (paths, not hyper-parameters)."""

_DESCRIPTION_STYLE = {"description_width": "150px"}
_CELL_MIN = "300px"
"""Narrowest form column: a 150 px label plus a usable input."""


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
        The input widget of each field, by config name (:class:`NumberText` for numbers).
    errors : dict[str, HTML]
        The error line under each field (empty when the field is fine).
    helps : dict[str, HTML]
        The help line under each field: description, range, default.
    preset : Dropdown
        Preset names; choosing one fills the form (except :data:`PRESET_KEEPS`). It always
        names the preset the form's values equal, or ``(custom)``.
    rows : dict[str, VBox]
        Each field with its help and error lines (hidden when the field does not apply).
    grids : dict[str, GridBox]
        Each section's rows, in as many columns as the width allows (CSS class
        ``eegtrain-section-<slug>``).
    folds : dict[str, Accordion]
        The folded sections (:data:`~eegtrain_jupyter.config.names.COLLAPSED_SECTIONS`); a field
        error unfolds its section.
    widget : VBox
        The preset dropdown and the sections, to be displayed on their own.
    """

    def __init__(self, schema: dict[str, Any], on_change: Callable[[], None] | None = None):
        self.schema = schema
        # nested sections (``data``) are not form fields: they pass through as last set (the shown
        # run's, else the schema's default), so "the form is the next run" holds for them too
        nested = {
            name
            for name, prop in schema["properties"].items()
            if "$ref" in prop or "oneOf" in prop or prop.get("type") == "object"
        }
        self.properties: dict[str, dict[str, Any]] = {
            name: prop for name, prop in schema["properties"].items() if name not in nested
        }
        self.sections: dict[str, Any] = {name: schema["properties"][name].get("default") for name in nested}
        self.presets: dict[str, dict[str, Any]] = dict(schema.get("presets") or {})
        self.on_change = on_change
        self._filling = False
        self.server_errors: dict[str, str] = {}
        self.fields: dict[str, w.Widget] = {}
        self.errors: dict[str, w.HTML] = {}
        self.helps: dict[str, w.HTML] = {}
        self.rows: dict[str, w.VBox] = {}
        self._headings: dict[str, w.HTML] = {}
        for name, prop in self.properties.items():
            field = self._make_field(name, prop)
            field.add_class(f"eegtrain-field-{name}")
            field.observe(self._changed, names="value")
            helpline = w.HTML(
                f"<span class='eegtrain-help'>{html.escape(help_text(prop))}</span>",
                layout={"margin": "0 0 0 4px"},
            )
            helpline.add_class("eegtrain-field-help")
            error = w.HTML(layout={"margin": "0 0 0 4px"})
            error.add_class("eegtrain-field-error")
            self.fields[name], self.errors[name], self.helps[name] = field, error, helpline
            row = w.VBox([field, helpline, error], layout={"min_width": "0", "margin": "0 0 4px 0"})
            row.add_class("eegtrain-form-row")
            self.rows[name] = row
        self.preset = w.Dropdown(
            options=[CUSTOM_PRESET, *self.presets],
            value=CUSTOM_PRESET,
            description="Preset",
            style=_DESCRIPTION_STYLE,
            layout={"width": "300px", "max_width": "100%"},
            tooltip="Fill the form with a named configuration",
        )
        self.preset.add_class("eegtrain-preset")
        self.preset.observe(self._preset_chosen, names="value")
        self.grids: dict[str, w.GridBox] = {}
        for name, members in _sections(self.rows).items():
            grid = w.GridBox(
                [self.rows[n] for n in members],
                layout=w.Layout(
                    grid_template_columns=f"repeat(auto-fill, minmax(min({_CELL_MIN}, 100%), 1fr))",
                    grid_gap="0 20px",
                    width="100%",
                ),
            )
            grid.add_class("eegtrain-form-grid")
            grid.add_class(f"eegtrain-section-{slug(name)}")
            self.grids[name] = grid
        self.folds: dict[str, w.Accordion] = {}
        for name in COLLAPSED_SECTIONS:
            if name in self.grids:
                fold = w.Accordion([self.grids[name]], titles=(name,))
                fold.selected_index = None
                fold.add_class("eegtrain-fold")
                self.folds[name] = fold
        self._show_applicable()
        self._match_preset()

    @functools.cached_property
    def widget(self) -> w.VBox:
        """The preset dropdown over the sections (made on first use: the panel lays them out itself)."""
        box = w.VBox([self.preset, self.layout()], layout={"width": "100%"})
        box.add_class("eegtrain-form")
        return box

    def layout(self, before: dict[str, list[w.Widget]] | None = None) -> w.VBox:
        """The sections in order, each a heading over its fields (a folded one an accordion);
        ``before`` puts widgets at the top of a section (the panel's data area in "Data")."""
        before = before or {}
        parts: list[w.Widget] = []
        for name, grid in self.grids.items():
            if name in self.folds:
                parts.append(self.folds[name])
                continue
            heading = w.HTML(f"<div class='eegtrain-section'>{html.escape(name)}</div>")
            heading.add_class("eegtrain-section-heading")
            self._headings[name] = heading
            parts += [heading, *before.get(name, []), grid]
        self._show_applicable()
        box = w.VBox(parts, layout={"width": "100%", "min_width": "0"})
        box.add_class("eegtrain-form-sections")
        return box

    # -- building ----------------------------------------------------------------------
    def _make_field(self, name: str, prop: dict[str, Any]) -> w.Widget:
        kind, _ = kind_of(prop)
        default = prop.get("default")
        common = {
            "description": prop.get("title") or name,
            "tooltip": f"{name}: {help_text(prop)}",
            "style": _DESCRIPTION_STYLE,
            "layout": {"width": "auto"},
        }
        if "enum" in prop:
            return w.Dropdown(options=list(prop["enum"]), value=default, **common)
        if kind == "array":  # a list of choices (augmentation): pick any, in the choices' order
            choices = list(prop.get("items", {}).get("enum", []))
            return w.SelectMultiple(options=choices, value=tuple(default or ()), rows=len(choices), **common)
        if kind == "boolean":
            return w.Checkbox(value=bool(default), indent=True, **common)
        if kind in ("integer", "number"):
            return NumberText(value="" if default is None else default, **common)
        return w.Text(value="" if default is None else str(default), placeholder="(none)", **common)

    # -- values ------------------------------------------------------------------------
    def value(self, name: str) -> Any:
        """The config value of one field (a typed number parsed; unparsable text as typed)."""
        return parse_value(self.properties[name], self.fields[name].value)

    def source(self) -> str:
        """The data source the form's ``data`` section names (``synthetic`` when it names none)."""
        data = self.sections.get("data")
        return str(data.get("source", "synthetic")) if isinstance(data, dict) else "synthetic"

    def applies(self, name: str) -> bool:
        """Whether field ``name`` applies to the chosen model (:data:`~.config.names.MODEL_ONLY_FIELDS`)
        and data source (:data:`~.config.names.SOURCE_ONLY_FIELDS`)."""
        models = MODEL_ONLY_FIELDS.get(name)
        if models and "model" in self.fields and self.fields["model"].value not in models:
            return False
        sources = SOURCE_ONLY_FIELDS.get(name)
        return not sources or self.source() in sources

    def values(self) -> dict[str, Any]:
        """The form as a config dict (an empty text of a nullable field means None); fields that
        do not apply to the chosen model are left out (the trainer's defaults hold for them)."""
        fields = {name: self.value(name) for name in self.fields if self.applies(name)}
        return {**self.sections, **fields}

    def set_values(self, config: dict[str, Any]) -> None:
        """Fill the fields named in ``config`` (unknown names are ignored)."""
        self._filling = True
        try:
            for name, value in config.items():
                if name in self.sections:
                    self.sections[name] = value
                if name in self.fields:
                    field = self.fields[name]
                    field.value = "" if value is None and isinstance(field, w.Text) else value
        finally:
            self._filling = False
        self._show_applicable()
        self.server_errors.clear()
        self._match_preset()
        self.refresh_errors()

    def differences(self, config: dict[str, Any]) -> list[str]:
        """Names of the fields whose form value differs from ``config`` (fields it names)."""
        values = self.values()
        return [
            n for n in values if n in self.fields and n in config and not same_value(values[n], config[n])
        ]

    def matching_preset(self) -> str:
        """The first preset every hyper-parameter of the form equals, else :data:`CUSTOM_PRESET`."""
        values = self.values()
        for name, preset in self.presets.items():
            wanted = {k: v for k, v in preset.items() if k not in PRESET_KEEPS and k in values}
            if all(same_value(values[k], v) for k, v in wanted.items()):
                return name
        return CUSTOM_PRESET

    def check(self) -> dict[str, str]:
        """Client-side validation against the schema: ``{field: message}``, every field at once."""
        values = self.values()
        problems = {}
        for name, prop in self.properties.items():
            message = check_value(prop, values[name]) if name in values else None
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
                message = str(err.get("message", ""))
                previous = self.server_errors.get(name)
                self.server_errors[name] = f"{previous}; {message}" if previous else message
            else:
                orphans.append(f"{err.get('field')}: {err.get('message')}")
        self.refresh_errors()
        return orphans

    def problems(self) -> dict[str, str]:
        """Every error shown now: the server's (until the form changes) and the schema's."""
        return {**self.server_errors, **self.check()}

    def refresh_errors(self) -> dict[str, str]:
        """Redraw every field's error line and red mark; returns the errors shown."""
        shown = self.problems()
        for name, label in self.errors.items():
            message = shown.get(name)
            text = f"<span class='eegtrain-error-text'>⚠ {html.escape(message)}</span>" if message else ""
            label.value = text
            field = self.fields[name]
            (field.add_class if message else field.remove_class)("eegtrain-invalid")
        for section, fold in self.folds.items():  # an error is never hidden in a folded section
            if any(n in shown and self.applies(n) for n in FIELD_SECTIONS.get(section, ())):
                fold.selected_index = 0
        return shown

    def title(self, name: str) -> str:
        return str(self.properties[name].get("title") or name)

    @property
    def disabled(self) -> bool:
        return self.preset.disabled

    @disabled.setter
    def disabled(self, value: bool) -> None:
        self.preset.disabled = value
        for field in self.fields.values():
            field.disabled = value

    # -- events ------------------------------------------------------------------------
    def _match_preset(self) -> None:
        match = self.matching_preset()
        if self.preset.value != match:
            filling, self._filling = self._filling, True
            try:
                self.preset.value = match
            finally:
                self._filling = filling

    def _show_applicable(self) -> None:
        """Hide the fields that do not apply to the chosen model and source, and the sections left
        with none."""
        for name, row in self.rows.items():
            row.layout.display = None if self.applies(name) else "none"
        for section, grid in self.grids.items():
            shown = any(self.applies(n) for n in _members(section, self.rows))
            grid.layout.display = None if shown else "none"
            for part in (self.folds.get(section), self._headings.get(section)):
                if part is not None and section != "Data":  # Data holds the data area too
                    part.layout.display = None if shown else "none"

    def source_changed(self) -> None:
        """The ``data`` section changed (its source may have): show the fields that apply now."""
        self._show_applicable()

    def _changed(self, change) -> None:
        if self._filling:
            return
        name = next((n for n, f in self.fields.items() if f is change["owner"]), "")
        if name == "model":
            self._show_applicable()
        # the server judged the config as it was: a rule across fields (augmentation needs an
        # unfrozen backbone) may be met by changing another field, so every server error goes
        self.server_errors.clear()
        self._match_preset()
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


def slug(section: str) -> str:
    """``Advanced (recipe, augmentation)`` → ``advanced``: a section's CSS class suffix."""
    return section.split(" ")[0].lower()


def _members(section: str, rows: dict[str, Any]) -> list[str]:
    """The fields of ``section`` the form has, in its order; "Training" also takes those listed nowhere."""
    listed = {n for names in FIELD_SECTIONS.values() for n in names}
    members = [n for n in FIELD_SECTIONS[section] if n in rows]
    if section == "Training":
        members += [n for n in rows if n not in listed]
    return members


def _sections(rows: dict[str, Any]) -> dict[str, list[str]]:
    return {name: _members(name, rows) for name in FIELD_SECTIONS}
