"""What a config field holds: numbers typed as text, read and checked against the JSON Schema.

:func:`parse_value` turns a field's text into the config value, :func:`check_value` says what is
wrong with it (every message a user sees next to a field), :func:`help_text` is the line under it.
"""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as w
import traitlets

__all__ = ["NumberText", "check_value", "format_number", "help_text", "kind_of", "parse_value", "same_value"]


def kind_of(prop: dict[str, Any]) -> tuple[str, bool]:
    """(type, nullable) of a schema property."""
    if "anyOf" in prop:
        kinds = [p.get("type") for p in prop["anyOf"]]
        return next(k for k in kinds if k != "null"), "null" in kinds
    return prop.get("type", "string"), False


def format_number(x: float) -> str:
    """Shortest text that reads back as ``x`` (``0.0003``, ``1e-05``, ``4294967295``)."""
    if isinstance(x, bool):
        raise TypeError("not a number")
    if isinstance(x, int):
        return str(x)
    short = f"{x:g}"
    return short if float(short) == x else repr(float(x))


def parse_value(prop: dict[str, Any], value: Any) -> Any:
    """The config value for what a field holds: numbers typed as text become numbers.

    Text that is not a number is returned unchanged, so :func:`check_value` reports it.
    """
    kind, nullable = kind_of(prop)
    if kind == "array" and isinstance(value, tuple):  # a SelectMultiple's value: a JSON list
        return list(value)
    if kind == "string":
        return None if nullable and value == "" else value
    if kind not in ("integer", "number") or not isinstance(value, str):
        return value
    text = value.strip()
    if text == "":
        return None
    try:
        number = int(text) if kind == "integer" else float(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return value
    if kind == "integer" and isinstance(number, float) and number.is_integer():
        number = int(number)
    return number


def _out_of_range(lo: Any, hi: Any) -> str:
    if lo is not None and hi is not None:
        return f"must be between {format_number(lo)} and {format_number(hi)}"
    return f"must be ≥ {format_number(lo)}" if lo is not None else f"must be ≤ {format_number(hi)}"


def check_value(prop: dict[str, Any], value: Any) -> str | None:
    """The message for ``value`` breaking the property's schema, or None when it is fine."""
    kind, nullable = kind_of(prop)
    if value is None:
        return (
            None
            if nullable
            else ("required: enter a number" if kind in ("integer", "number") else "required")
        )
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number, not {str(value)!r}" if isinstance(value, str) else "must be a number"
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        if kind == "integer" and int(value) != value:
            return "must be a whole number"
        lo, hi = prop.get("minimum"), prop.get("maximum")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return _out_of_range(lo, hi)
        if "exclusiveMinimum" in prop and value <= prop["exclusiveMinimum"]:
            return f"must be > {format_number(prop['exclusiveMinimum'])}"
        if "exclusiveMaximum" in prop and value >= prop["exclusiveMaximum"]:
            return f"must be < {format_number(prop['exclusiveMaximum'])}"
    if kind == "string":
        if not isinstance(value, str):
            return "must be text"
        if len(value) < prop.get("minLength", 0):
            if prop.get("minLength") == 1:
                return "must not be empty"
            return f"needs ≥ {prop['minLength']} characters"
        if "maxLength" in prop and len(value) > prop["maxLength"]:
            return f"needs ≤ {prop['maxLength']} characters"
    if kind == "array":
        if not isinstance(value, list):
            return "must be a list"
        allowed = prop.get("items", {}).get("enum")
        unknown = [v for v in value if allowed is not None and v not in allowed]
        if unknown:
            return f"unknown: {', '.join(map(str, unknown))}"
    if "enum" in prop and value not in prop["enum"]:
        return f"must be one of {', '.join(map(str, prop['enum']))}"
    return None


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return a == b and type(a) is type(b)


def help_text(prop: dict[str, Any]) -> str:
    """One line for humans: the description, the range and the default."""
    parts = [prop.get("description", "")]
    lo, hi = prop.get("minimum"), prop.get("maximum")
    if lo is not None and hi is not None:
        parts.append(f"{format_number(lo)}–{format_number(hi)}")
    if "default" in prop:
        default = prop["default"]
        if default is None or default == []:
            parts.append("default: none")
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            parts.append(f"default {format_number(default)}")
        else:
            parts.append(f"default {str(default).lower() if isinstance(default, bool) else default}")
    return " · ".join(p for p in parts if p)


class NumberText(w.Text):
    """A text box holding a number as typed.

    ``value`` is always text; numbers assigned from Python (``field.value = 500``) are
    written as their shortest text. :meth:`ConfigForm.values` parses it.
    """

    value = traitlets.Any("", help="The text in the box").tag(sync=True)

    @traitlets.validate("value")
    def _as_text(self, proposal):
        value = proposal["value"]
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return format_number(value)
        raise traitlets.TraitError(f"a number or text, not {type(value).__name__}")
