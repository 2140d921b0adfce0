"""How the panel looks: its CSS (JupyterLab theme variables, light and dark), state colours and
the wrapping row every part of it is laid out in."""

from __future__ import annotations

from typing import TypeVar

import ipywidgets as w

__all__ = ["PANEL_CSS", "STATE_COLORS", "button", "section", "style_widget", "with_class", "wrap_row"]

STATE_COLORS = {
    "idle": "#757575",
    "preparing": "#f9a825",
    "training": "#1565c0",
    "stopping": "#ef6c00",
    "completed": "#2e7d32",
    "stopped": "#546e7a",
    "failed": "#c62828",
    "interrupted": "#ad1457",
    "reconnecting": "#6a1b9a",
}
"""Badge colour of each state (and of ``reconnecting``, the panel's own)."""

# Colours come from JupyterLab's theme variables, so the light and the dark theme both read well;
# error/ok/warn text picks the shade with enough contrast on each theme's background.
PANEL_CSS = """
.eegtrain-panel { --eegtrain-error: var(--jp-error-color1, #d32f2f);
  --eegtrain-warn: var(--jp-warn-color0, #e65100); --eegtrain-ok: var(--jp-success-color0, #1b5e20);
  color: var(--jp-ui-font-color1); min-width: 0; max-width: 100%; box-sizing: border-box; }
body[data-jp-theme-light='false'] .eegtrain-panel { --eegtrain-error: var(--jp-error-color2, #e57373);
  --eegtrain-warn: var(--jp-warn-color2, #ffb74d); --eegtrain-ok: var(--jp-success-color2, #81c784); }
.eegtrain-panel .widget-html-content { white-space: normal; overflow-wrap: anywhere; line-height: 1.45; }
.eegtrain-panel .widget-html, .eegtrain-panel .widget-label { min-width: 0; }
.eegtrain-panel .eegtrain-help { color: var(--jp-ui-font-color2); font-size: var(--jp-ui-font-size0, 11px);
  line-height: 1.3; display: block; }
.eegtrain-panel .eegtrain-field-help .widget-html-content,
.eegtrain-panel .eegtrain-field-error .widget-html-content { line-height: 1.3; }
.eegtrain-panel .eegtrain-error-text, .eegtrain-panel .eegtrain-error { color: var(--eegtrain-error);
  font-weight: 600; }
.eegtrain-panel .eegtrain-error details { font-weight: normal; color: var(--jp-ui-font-color1); }
.eegtrain-panel .eegtrain-error pre { white-space: pre-wrap; max-height: 12em; overflow-y: auto;
  font-size: var(--jp-code-font-size, 12px); background: var(--jp-layout-color2); padding: 4px; }
.eegtrain-panel .eegtrain-warn { color: var(--eegtrain-warn); }
.eegtrain-panel .eegtrain-ok { color: var(--eegtrain-ok); }
.eegtrain-panel .eegtrain-muted, .eegtrain-panel .eegtrain-caption { color: var(--jp-ui-font-color2); }
.eegtrain-panel .eegtrain-warning { color: var(--jp-warn-color1, #e65100); }
.eegtrain-panel .eegtrain-caption { font-size: var(--jp-ui-font-size0, 11px); }
.eegtrain-panel .eegtrain-invalid input, .eegtrain-panel .eegtrain-invalid select {
  border-color: var(--eegtrain-error) !important; box-shadow: 0 0 0 1px var(--eegtrain-error); }
.eegtrain-panel .eegtrain-invalid .widget-label { color: var(--eegtrain-error); }
.eegtrain-panel .eegtrain-section { font-weight: 600; border-bottom: 1px solid var(--jp-border-color2);
  margin-top: 6px; }
.eegtrain-panel .eegtrain-legend .eegtrain-figure-title { font-weight: 600; margin-right: 12px; }
.eegtrain-panel .eegtrain-legend .eegtrain-key { white-space: nowrap; margin-right: 10px; }
.eegtrain-panel .eegtrain-legend .eegtrain-key i { display: inline-block; width: 16px; height: 3px;
  vertical-align: middle; margin-right: 4px; }
.eegtrain-panel .bqplot > svg .axis text.axislabel, .eegtrain-panel .bqplot > svg .axis tspan.axislabel {
  fill: var(--jp-ui-font-color1); }
.eegtrain-panel .bqplot > svg .axis .tick text { fill: var(--jp-ui-font-color2); }
.eegtrain-panel .bqplot > svg .axis path, .eegtrain-panel .bqplot > svg .axis .tick line {
  stroke: var(--jp-border-color1); }
.eegtrain-panel .bqplot, .eegtrain-panel .bqplot > svg { background: transparent; }
.eegtrain-panel .bqplot > svg .plotarea_background { fill: transparent; }
.eegtrain-panel code { overflow-wrap: anywhere; }
/* tables never break inside a word ("subj/ect"): cells wrap between words; a table still too wide
   for the notebook scrolls sideways on its own */
.eegtrain-panel table { display: block; max-width: 100%; overflow-x: auto; border-collapse: collapse; }
.eegtrain-panel td, .eegtrain-panel th, .eegtrain-panel td code, .eegtrain-panel th code {
  overflow-wrap: normal; word-break: normal; hyphens: none; }
.eegtrain-panel td, .eegtrain-panel th { padding: 0 10px 0 0; text-align: left; vertical-align: top; }
.eegtrain-panel .eegtrain-runs-table { font-size: var(--jp-ui-font-size0, 12px); }
.eegtrain-panel .eegtrain-runs-cell .widget-html-content { white-space: nowrap; overflow-wrap: normal;
  word-break: normal; font-variant-numeric: tabular-nums; line-height: 1.3; font-size: inherit; }
.eegtrain-panel .eegtrain-runs-started .widget-html-content { white-space: normal; }
.eegtrain-panel .eegtrain-runs-data .widget-html-content { max-width: 9em; overflow: hidden;
  text-overflow: ellipsis; }
.eegtrain-panel .eegtrain-runs-header { padding: 0 4px; font-weight: 600; white-space: normal; height: auto;
  min-height: var(--jp-widgets-inline-height, 28px); line-height: 1.15; text-align: left; overflow-wrap: normal;
  overflow: visible; min-width: min-content; font-size: inherit; }
.eegtrain-panel .eegtrain-runs-header.eegtrain-sorted { background: var(--jp-layout-color3); }
.eegtrain-panel .eegtrain-downloads a, .eegtrain-panel a.eegtrain-download {
  color: var(--jp-content-link-color, #1976d2); white-space: nowrap; }
.eegtrain-panel .eegtrain-fold .lm-AccordionPanel-title, .eegtrain-panel .eegtrain-fold .p-Collapse-header {
  font-weight: 600; }
.eegtrain-panel .eegtrain-data-files td, .eegtrain-panel .eegtrain-data-files th { padding: 0 8px 0 0;
  text-align: left; }
/* the kernel behind this view restarted or stopped (ipywidgets marks every view of a dead comm):
   say so once, look inert, and never show a live-looking state or Stop button */
.eegtrain-panel .jupyter-widgets-disconnected::before { content: none !important; display: none !important; }
.eegtrain-panel.jupyter-widgets-disconnected::before { order: -1; display: block;
content: "Disconnected: the kernel behind this panel restarted or stopped. Re-run the cell for a live panel.";
  font: inherit; font-weight: 600; color: var(--eegtrain-error); padding: 2px 0 4px; }
.eegtrain-panel.jupyter-widgets-disconnected > :nth-child(n+3) { opacity: .45; pointer-events: none; }
.eegtrain-panel.jupyter-widgets-disconnected .eegtrain-badge span { display: none; }
.eegtrain-panel.jupyter-widgets-disconnected .eegtrain-badge .widget-html-content::after {
  content: "disconnected"; background: var(--jp-layout-color3, #757575); color: var(--jp-ui-font-color1);
  padding: 2px 10px; border-radius: 10px; font-weight: 600; }
.eegtrain-panel.jupyter-widgets-disconnected button { pointer-events: none; opacity: .4; }
"""


def style_widget() -> w.HTML:
    """An invisible widget that carries :data:`PANEL_CSS` into the page."""
    return w.HTML(f"<style>{PANEL_CSS}</style>", layout={"display": "none"})


def wrap_row(children, **layout) -> w.HBox:
    """A row that wraps onto the next line when the notebook is narrow (no horizontal scroll)."""
    return w.HBox(
        children,
        layout={
            "flex_flow": "row wrap",
            "align_items": "center",
            "grid_gap": "4px 12px",
            "min_width": "0",
            "width": "100%",
            **layout,
        },
    )


def section(text: str) -> w.HTML:
    """A section heading (``text`` is HTML)."""
    return w.HTML(f"<div class='eegtrain-section'>{text}</div>")


W = TypeVar("W", bound=w.DOMWidget)


def with_class(widget: W, css_class: str) -> W:
    """``widget`` with the CSS class ``css_class`` added (the ``eegtrain-*`` names tests and CSS use)."""
    widget.add_class(css_class)
    return widget


def button(description: str, icon: str, css_class: str, tooltip: str, button_style: str = "") -> w.Button:
    """A button with an icon, a tooltip and its ``eegtrain-*`` CSS class, as wide as its text."""
    return with_class(
        w.Button(
            description=description,
            icon=icon,
            tooltip=tooltip,
            button_style=button_style,
            layout={"width": "auto"} if not button_style else {},
        ),
        css_class,
    )
