"""The test report's confusion matrix as a bqplot heat map (rows: true class, columns: predicted),
class names on the axes and the counts written in the cells.

The matrix comes from the status's ``test_report`` (:class:`~eegtrain_jupyter.schemas.TestReport`),
scored once when a run ends; there is no per-epoch validation matrix. Without a report the figure is
hidden and a line says why.
"""

from __future__ import annotations

import html
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from .style import with_class

__all__ = ["ConfusionFigure", "report_caption"]


def report_caption(report: dict[str, Any] | None) -> str:
    """One line on the test split: its size, subjects, the epoch tested and the headline scores."""
    if not report:
        return (
            "<span class='eegtrain-muted'>confusion matrix: shown once a run has a test split report</span>"
        )
    who = f", subjects {', '.join(map(str, report['subjects']))}" if report.get("subjects") else ""
    auc = report.get("roc_auc")
    scores = (
        f"accuracy {report['accuracy']:.1f}%, balanced {report['balanced_accuracy']:.1f}%, "
        f"macro F1 {report['macro_f1']:.1f}%" + ("" if auc is None else f", ROC AUC {auc:.1f}%")
    )
    epoch = "" if report.get("epoch") is None else f", weights of epoch {report['epoch']}"
    return html.escape(f"Test split: {report['n']} windows{who}{epoch}: {scores}") + (
        f"<br><span class='eegtrain-muted'>{html.escape(str(report['split']))}</span>"
        if report.get("split")
        else ""
    )


class ConfusionFigure:
    """A heat map of ``test_report.confusion_matrix``; :meth:`update` redraws it from a report.

    Attributes
    ----------
    figure : bqplot.Figure
        Hidden (``display: none``) and out of ``widget`` while there is no report: a figure drawn
        with no width makes bqplot draw negative-width rectangles.
    heatmap : bqplot.GridHeatMap
        ``color`` holds the counts (``(n_classes, n_classes)``), ``row``/``column`` the class names.
    caption : HTML
        The test split and its scores, or why nothing is shown.
    widget : VBox
        Caption over figure (CSS class ``eegtrain-confusion``).
    """

    def __init__(self):
        self._scales = {
            "row": bq.OrdinalScale(reverse=True),  # the first class on top, as in a printed matrix
            "column": bq.OrdinalScale(),
            "color": bq.ColorScale(colors=["#f7fbff", "#6baed6"], min=0),  # light: black counts read
        }
        self.heatmap = bq.GridHeatMap(
            color=np.zeros((2, 2)),  # bqplot squeezes a 1 x 1 matrix away: a blank 2 x 2 until a report
            row=["", " "],
            column=["", " "],
            scales=self._scales,
            display_format=".0f",
            font_style={"font-size": "14px", "fill": "black"},
        )
        self.figure = bq.Figure(
            marks=[self.heatmap],
            title="Test confusion matrix",
            animation_duration=0,
            axes=[
                bq.Axis(scale=self._scales["column"], label="predicted", side="bottom"),
                bq.Axis(scale=self._scales["row"], label="true", side="left"),
            ],
            fig_margin={"top": 40, "bottom": 50, "left": 90, "right": 20},
            layout={"width": "320px", "max_width": "100%", "height": "300px", "display": "none"},
        )
        self.caption = with_class(w.HTML(report_caption(None)), "eegtrain-confusion-caption")
        self.widget = with_class(w.VBox([self.caption], layout={"min_width": "0"}), "eegtrain-confusion")
        self.shown: dict[str, Any] | None = None
        """The report drawn now (None: hidden)."""

    def update(self, report: dict[str, Any] | None) -> bool:
        """Draw ``report`` (or hide the figure when None); returns whether anything changed."""
        if report == self.shown:
            return False
        self.shown = report
        self.caption.value = report_caption(report)
        if not report:
            self.figure.layout.display = "none"
            self.widget.children = [self.caption]
            return True
        names = [str(n) for n in report["class_names"]]
        counts = np.asarray(report["confusion_matrix"], dtype=float).reshape(len(names), len(names))
        with self.heatmap.hold_sync():
            self.heatmap.row, self.heatmap.column = names, names
            self.heatmap.color = counts
        self._scales["color"].max = float(max(counts.max(), 1.0))
        self.figure.layout.display = None
        self.widget.children = [self.caption, self.figure]
        return True
