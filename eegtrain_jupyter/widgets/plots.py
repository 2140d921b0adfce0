"""Live per-epoch curves (train and validation) as bqplot figures, updated in place.

The legend is an HTML line above the plot (never on the data), the y axis fits the data
drawn (with a margin), and the figure takes the width its container gives it.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence

import bqplot as bq
import ipywidgets as w
import numpy as np

__all__ = ["TRAIN_COLOR", "VAL_COLOR", "CurvesFigure", "epoch_ticks", "fit_range", "nice_ticks"]

TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#ff7f0e"


def fit_range(
    values: Sequence[float],
    *,
    min_span: float,
    bounds: tuple[float, float] | None = None,
    empty: tuple[float, float] = (0.0, 1.0),
) -> tuple[float, float]:
    """A y range showing every finite value with a margin of 8 % of the span (at least ``min_span``).

    ``bounds`` clips it (accuracy stays within 0–100 %); with no finite value, ``empty``.
    """
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return empty
    lo, hi = min(finite), max(finite)
    span = max(hi - lo, min_span)
    pad = 0.08 * span + max(0.0, (span - (hi - lo)) / 2)
    lo, hi = lo - pad, hi + pad
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return lo, hi


def epoch_ticks(x_max: int) -> np.ndarray:
    """Ticks for an epoch axis from 1 to ``x_max``: whole epochs only, at most about ten (a
    ``"d"`` tick format on automatic ticks prints 1.5 as "2": "1 2 2 3")."""
    step = max(1, -(-x_max // 10))
    return np.arange(1, x_max + 1, step, dtype=float)


def nice_ticks(lo: float, hi: float, target: int = 5) -> tuple[list[float], str]:
    """About ``target`` round tick values within [lo, hi] (steps of 1, 2, 2.5 or 5 x 10^k) and a
    d3 format that shows them without noise (``.0f``, ``.2f``, ...)."""
    span = hi - lo
    if not (math.isfinite(span) and span > 0):
        return [lo], ".3g"
    raw = span / max(target, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = min((m * power for m in (1, 2, 2.5, 5, 10)), key=lambda st: abs(math.log(st / raw)))
    first = math.ceil(lo / step - 1e-9) * step
    ticks = [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9) + (1 if step / power == 2.5 else 0))
    return ticks, f".{decimals}f"


class CurvesFigure:
    """A bqplot figure with a train and a validation line over epochs.

    Parameters
    ----------
    title, ylabel : str
        Title (in the HTML line above the plot, with the legend) and y-axis label.
    y_bounds : (float, float) or None
        Limits the fitted y range never crosses (0–100 for accuracy).
    min_span : float
        Smallest y span shown (so one point or a flat line is not magnified into noise).
    empty_range : (float, float)
        The y range before any data.
    min_interval : float
        Seconds between two redraws at most (throttling); a skipped update is drawn
        by the next call to :meth:`update` once the interval has passed.

    Attributes
    ----------
    figure : bqplot.Figure
        The plot (carries ``css_class``).
    legend : ipywidgets.HTML
        Title and legend (class ``eegtrain-legend``), outside the plot area.
    widget : ipywidgets.VBox
        Legend and figure, to be displayed.
    """

    def __init__(
        self,
        title: str,
        ylabel: str,
        *,
        y_bounds=None,
        min_span: float = 0.05,
        empty_range: tuple[float, float] = (0.0, 1.0),
        min_interval: float = 0.25,
        css_class: str | None = None,
    ):
        self.min_interval = min_interval
        self.y_bounds = y_bounds
        self.min_span = min_span
        self.empty_range = empty_range
        self.x_scale = bq.LinearScale(min=1.0, max=2.0)
        self.y_scale = bq.LinearScale(min=float(empty_range[0]), max=float(empty_range[1]))
        self.lines = bq.Lines(
            x=np.zeros(0),
            y=np.zeros((2, 0)),
            scales={"x": self.x_scale, "y": self.y_scale},
            labels=["train", "validation"],
            colors=[TRAIN_COLOR, VAL_COLOR],
            display_legend=False,
            marker="circle",
            marker_size=32,
        )
        self.x_axis = bq.Axis(
            scale=self.x_scale,
            label="epoch",
            side="bottom",
            tick_format="d",
            grid_lines="none",
            tick_values=np.arange(1.0, 3.0),
        )
        # label clear of 5-character ticks such as 0.672
        ticks, fmt = nice_ticks(*empty_range)
        self.y_axis = bq.Axis(
            scale=self.y_scale,
            label=ylabel,
            side="left",
            grid_lines="dashed",
            label_offset="44px",
            tick_values=np.array(ticks, dtype=float),
            tick_format=fmt,
        )
        self.figure = bq.Figure(
            marks=[self.lines],
            axes=[self.x_axis, self.y_axis],
            animation_duration=0,
            layout={"width": "auto", "height": "260px", "min_width": "0"},
            fig_margin={"top": 10, "bottom": 40, "left": 64, "right": 16},
        )
        if css_class:
            self.figure.add_class(css_class)
        self.legend = w.HTML(
            f"<span class='eegtrain-figure-title'>{html.escape(title)}</span>"
            f"<span class='eegtrain-key'><i style='background:{TRAIN_COLOR}'></i>train</span>"
            f"<span class='eegtrain-key'><i style='background:{VAL_COLOR}'></i>validation</span>"
        )
        self.legend.add_class("eegtrain-legend")
        self.widget = w.VBox(
            [self.legend, self.figure], layout={"flex": "1 1 340px", "min_width": "0", "max_width": "720px"}
        )
        self.widget.add_class("eegtrain-figure-box")
        self._shown: tuple | None = None
        self._last_draw = 0.0
        self._n = 0

    def update(self, train: Sequence[float], val: Sequence[float], total_epochs: int = 0) -> bool:
        """Show these per-epoch values; True if the figure was redrawn now."""
        data = (tuple(train), tuple(val), int(total_epochs))
        if data == self._shown:
            return False
        now = time.monotonic()
        if now - self._last_draw < self.min_interval:
            return False  # throttled: the caller's next update draws it
        n = min(len(data[0]), len(data[1]))
        x = np.arange(1, n + 1, dtype=float)
        y = np.array([data[0][:n], data[1][:n]], dtype=float).reshape(2, n)
        if n == 1:
            # bqplot squeezes a (2, 1) y into ONE line of 2 points (the validation curve
            # vanishes): repeat the single epoch's point so each line keeps its own point
            x, y = np.repeat(x, 2), np.repeat(y, 2, axis=1)
        x_max = max(2, total_epochs, n)
        y_lo, y_hi = fit_range(
            list(data[0][:n]) + list(data[1][:n]),
            min_span=self.min_span,
            bounds=self.y_bounds,
            empty=self.empty_range,
        )
        with (
            self.figure.hold_sync(),
            self.lines.hold_sync(),
            self.x_scale.hold_sync(),
            self.y_scale.hold_sync(),
        ):
            self.x_scale.max = float(x_max)
            self.x_axis.tick_values = epoch_ticks(x_max)
            self.y_scale.min, self.y_scale.max = float(y_lo), float(y_hi)
            ticks, fmt = nice_ticks(y_lo, y_hi)
            self.y_axis.tick_values, self.y_axis.tick_format = np.array(ticks, dtype=float), fmt
            self.lines.x = x
            self.lines.y = y
        self._shown, self._last_draw, self._n = data, now, n
        return True

    @property
    def shown(self) -> tuple[list[float], list[float]]:
        """The (train, validation) values currently drawn."""
        y = np.asarray(self.lines.y).reshape(2, -1)[:, : self._n]
        return y[0].tolist(), y[1].tolist()

    @property
    def y_range(self) -> tuple[float, float]:
        """The y range drawn now."""
        return float(self.y_scale.min), float(self.y_scale.max)
