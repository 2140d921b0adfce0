"""Live per-epoch curves (train and validation) as bqplot figures, updated in place."""

from __future__ import annotations

import time
from collections.abc import Sequence

import bqplot as bq
import numpy as np

__all__ = ["TRAIN_COLOR", "VAL_COLOR", "CurvesFigure"]

TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#ff7f0e"


class CurvesFigure:
    """A bqplot figure with a train and a validation line over epochs.

    Parameters
    ----------
    title, ylabel : str
        Figure title and y-axis label.
    y_range : (float, float) or None
        Fixed y range (e.g. 0–100 for accuracy); None lets bqplot fit the data.
    min_interval : float
        Seconds between two redraws at most (throttling); a skipped update is drawn
        by the next call to :meth:`update` once the interval has passed.
    """

    def __init__(self, title: str, ylabel: str, *, y_range=None, min_interval: float = 0.25,
                 css_class: str | None = None):
        self.min_interval = min_interval
        self.x_scale = bq.LinearScale(min=1.0, max=2.0)
        self.y_scale = bq.LinearScale(**({"min": y_range[0], "max": y_range[1]} if y_range else {}))
        self.lines = bq.Lines(
            x=np.zeros(0), y=np.zeros((2, 0)),
            scales={"x": self.x_scale, "y": self.y_scale},
            labels=["train", "validation"], colors=[TRAIN_COLOR, VAL_COLOR],
            display_legend=True, marker="circle", marker_size=32,
        )
        x_axis = bq.Axis(scale=self.x_scale, label="epoch", side="bottom", tick_format="d", grid_lines="none",
                         tick_values=np.arange(1.0, 3.0))
        self.x_axis = x_axis
        # label clear of 5-character ticks such as 0.672
        y_axis = bq.Axis(scale=self.y_scale, label=ylabel, side="left", grid_lines="dashed",
                         label_offset="48px")
        self.figure = bq.Figure(
            marks=[self.lines], axes=[x_axis, y_axis], title=title,
            legend_location="top-right", animation_duration=0,
            layout={"width": "440px", "height": "300px"},
            fig_margin={"top": 40, "bottom": 45, "left": 70, "right": 20},
        )
        if css_class:
            self.figure.add_class(css_class)
        self._shown: tuple | None = None
        self._last_draw = 0.0
        self._n = 0
        self.draws = 0

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
        step = max(1, -(-x_max // 10))  # whole epochs only, at most ~10 ticks
        with self.figure.hold_sync(), self.lines.hold_sync(), self.x_scale.hold_sync():
            self.x_scale.max = float(x_max)
            self.x_axis.tick_values = np.arange(1, x_max + 1, step, dtype=float)
            self.lines.x = x
            self.lines.y = y
        self._shown, self._last_draw, self._n = data, now, n
        self.draws += 1
        return True

    @property
    def shown(self) -> tuple[list[float], list[float]]:
        """The (train, validation) values currently drawn."""
        y = np.asarray(self.lines.y).reshape(2, -1)[:, : self._n]
        return y[0].tolist(), y[1].tolist()
