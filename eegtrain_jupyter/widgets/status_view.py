"""The "Run shown" part of the panel: what the trainer's status says, drawn into widgets.

:class:`RunView` holds the widgets (badge, run line, config line, backbone, epoch and batch
progress, metrics, outputs, curves) and draws a status into them; the text of each line is made
by a pure function of the status, so the panel adds no fact the status does not hold.
"""

from __future__ import annotations

import html
from pathlib import PurePath
from typing import Any

import ipywidgets as w

from ..client import TrainingClient
from .confusion import ConfusionFigure
from .form import ConfigForm, format_number
from .plots import CurvesFigure
from .records import path_html
from .style import STATE_COLORS, with_class, wrap_row

__all__ = [
    "RunView",
    "backend_html",
    "badge_html",
    "batch_text",
    "epoch_text",
    "error_html",
    "outputs_html",
    "run_info_html",
]

_ACTIVE = {"preparing", "training", "stopping"}
_BAR_STYLES = {"completed": "success", "failed": "danger", "interrupted": "danger", "stopped": "warning"}
_METRICS = {
    "train_loss": "train loss",
    "val_loss": "val loss",
    "train_acc": "train acc",
    "val_acc": "val acc",
    "best_val_acc": "best val acc (chose the epoch)",
    "elapsed": "elapsed",
    "eta": "ETA",
}


def test_card_html(report: dict[str, Any] | None) -> str:
    """The run's result, led by the held-out test split: balanced accuracy (the headline), accuracy,
    macro F1 and ROC AUC in %, the split with its windows and subjects; validation is marked as what
    chose the epoch. Empty until the run has a test report."""
    if not report:
        return ""
    auc = report.get("roc_auc")
    n_subjects = len(report.get("subjects") or [])
    who = f", {n_subjects} subject{'s' if n_subjects != 1 else ''}" if n_subjects else ""
    epoch = "" if report.get("epoch") is None else f", weights of epoch {report['epoch']}"
    others = f"accuracy {report['accuracy']:.1f}% · macro F1 {report['macro_f1']:.1f}%" + (
        "" if auc is None else f" · ROC AUC {auc:.1f}%"
    )
    return (
        "<div class='eegtrain-test-card-body'>"
        "<div class='eegtrain-caption'>Held-out test split (not seen in training or epoch choice)</div>"
        f"<div style='font-size:1.6em'><b>{report['balanced_accuracy']:.1f}%</b> "
        "<span style='font-size:0.6em'>balanced accuracy</span></div>"
        f"<div>{html.escape(others)}</div>"
        f"<div class='eegtrain-muted'>{report['n']} windows{who}{html.escape(epoch)}"
        + (f" — {html.escape(str(report['split']))}" if report.get("split") else "")
        + "</div><div class='eegtrain-muted'>Validation scores below were used to choose the epoch.</div></div>"
    )


def _fmt_loss(x):
    return "—" if x is None else f"{x:.4f}"


def _fmt_acc(x):
    return "—" if x is None else f"{x:.1f}%"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return format_number(value)
    if value is None:
        return "none"
    return str(value)


def error_html(text: str) -> str:
    """The first line of an error, the whole text folded under "details" when there is more."""
    lines = str(text).strip().splitlines() or [""]
    first = lines[0] if len(lines[0]) <= 240 else lines[0][:240] + "…"
    out = html.escape(first)
    if len(lines) > 1 or first != lines[0]:
        out += f"<details><summary>details</summary><pre>{html.escape(str(text))}</pre></details>"
    return out


def badge_html(state: str) -> str:
    color = STATE_COLORS.get(state, "#757575")
    return (
        f"<span class='eegtrain-state-{state}' style='background:{color};color:white;"
        f"padding:2px 10px;border-radius:10px;font-weight:600'>{state}</span>"
    )


def epoch_text(status: dict[str, Any]) -> str:
    """One epoch numbering: the epoch being trained while active ("epoch 2 / 3" during epoch 2); the
    epochs done while the best checkpoint is tested ("epoch 3 / 3 · testing")."""
    total = int(status.get("total_epochs") or 0)
    done = int(status.get("current_epoch") or 0)
    state = status.get("state", "idle")
    if not status.get("run_id"):
        return "no run yet"
    if state in _ACTIVE or status.get("is_training"):
        batch = status.get("batch") or {}
        if _testing(status):
            return f"epoch {done} / {total} · testing"
        if int(batch.get("epoch") or 0) >= 1:
            return f"epoch {int(batch['epoch'])} / {total}"
        if status.get("phase") == "training" and done < total:
            return f"epoch {done + 1} / {total}"
        return f"{status.get('phase') or state} · {total} epochs planned"
    return f"epoch {done} / {total} · {state}"


def _testing(status: dict[str, Any]) -> bool:
    """Whether the held-out test split is being scored (the batches then carry the best epoch's number)."""
    batch = status.get("batch") or {}
    return status.get("phase") == "testing" or batch.get("phase") == "test"


def batch_text(status: dict[str, Any]) -> str:
    """The batch in flight and this epoch's running train metrics (plain text)."""
    batch = status.get("batch")
    if not batch:
        phase = status.get("phase")
        return f"{phase}…" if phase and status.get("is_training") else ""
    if batch["phase"] == "caching features":
        text = f"caching features: batch {batch['batch']} / {batch['n_batches']}"
    elif _testing(status):
        return f"test split, best checkpoint (epoch {batch['epoch']}): batch {batch['batch']} / {batch['n_batches']}"
    else:
        text = f"epoch {batch['epoch']} {batch['phase']}: batch {batch['batch']} / {batch['n_batches']}"
    running = []  # running means over this epoch so far, when the trainer reports them
    if batch.get("train_loss") is not None:
        running.append(f"loss {batch['train_loss']:.4f}")
    if batch.get("train_acc") is not None:
        running.append(f"acc {batch['train_acc']:.1f}%")
    if running:
        text += " · running train " + ", ".join(running)
    return text


def backbone_html(status: dict[str, Any]) -> str:
    backbone = status.get("backbone") or {}
    if not backbone:
        return ""
    css = "eegtrain-ok" if backbone.get("origin") == "pretrained" else "eegtrain-warn"
    return (
        f"this run's backbone: <b class='{css}'>{html.escape(str(backbone.get('origin')))}"
        f"</b> — {html.escape(str(backbone.get('message', '')))}"
    )


def backend_html(client: TrainingClient) -> str:
    """Which trainer the panel drives, and why, when it is not the first choice."""
    backend = str(client.backend)
    where = str(client.describe())
    if where.lower().startswith(backend.lower()):  # "server http://…": say "server" once
        where = where[len(backend) :].lstrip(" —-:")
    text = f"backend: <b>{html.escape(backend)}</b> — {html.escape(where)}"
    if client.notice:
        text += f"<br><small class='eegtrain-warn'>{html.escape(client.notice)}</small>"
    return text


def run_info_html(status: dict[str, Any]) -> str:
    if not status.get("run_id"):
        return "<span class='eegtrain-muted'>no run yet: press Start</span>"
    parts = [f"run <code>{html.escape(status['run_id'])}</code>", html.escape(str(status.get("state")))]
    if status.get("started_at"):
        parts.append(f"started {html.escape(str(status['started_at']).replace('T', ' ')[:19])}")
    parts += [f"{k} {html.escape(str(status[k]))}" for k in ("device", "precision") if status.get(k)]
    if status.get("save_dir"):
        parts.append(f"save_dir <code>{html.escape(status['save_dir'])}</code>")
    return " · ".join(parts)


def run_config_html(status: dict[str, Any], form: ConfigForm) -> str:
    """The shown run's config (what differs from the defaults) and where the form differs from it."""
    config = status.get("config") if status.get("run_id") else None
    if not config:
        return ""
    props = form.properties
    changed = [n for n in props if n in config and config[n] != props[n].get("default")]
    items = [f"{html.escape(form.title(n))} <b>{html.escape(_show(config[n]))}</b>" for n in changed]
    text = "this run's config: " + (", ".join(items) + " (others default)" if items else "all defaults")
    differs = form.differences(config)
    if differs:
        text += (
            " · <span class='eegtrain-warn'>the form (next run) differs in "
            + html.escape(", ".join(form.title(n) for n in differs))
            + "</span>"
        )
    else:
        text += " · <span class='eegtrain-muted'>the form holds the same config</span>"
    return text


def outputs_html(status: dict[str, Any]) -> str:
    """What the shown run wrote (``files``, by name, in its run folder), its checkpoint's epoch and
    score, and whether it replaced the top-level files in ``save_dir`` (``published``). Paths are
    shortened to their last parts; the whole path is each one's tooltip."""
    if not status.get("run_id"):
        return ""
    active = bool(status.get("is_training"))
    parts = []
    files = status.get("files") or {}
    if files:
        names = ", ".join(
            f"<code title='{html.escape(str(p), quote=True)}'>{html.escape(PurePath(str(p)).name)}</code>"
            for p in files.values()
        )
        folder = f" in {path_html(str(status['run_dir']))}" if status.get("run_dir") else ""
        parts.append(f"wrote {names}{folder}")
    elif status.get("run_dir"):
        parts.append(f"this run's folder {path_html(str(status['run_dir']))}")
    if status.get("best_epoch") is not None:
        score = status.get("best_val_acc")
        score_text = f", val acc {score:.1f}%" if isinstance(score, (int, float)) else ""
        label = "best checkpoint so far" if active else "checkpoint"
        parts.append(f"{label}: epoch {status['best_epoch']}{score_text}")
    elif not active:
        parts.append("no epoch finished, so no checkpoint was written")
    if not active:
        published = status.get("published") or {}
        save_dir = path_html(str(status.get("save_dir") or "save_dir"))
        if published:
            parts.append(f"replaced the top-level files in {save_dir}")
        else:
            parts.append(
                f"<b>the top-level files in {save_dir} are unchanged</b> (only a completed run replaces them)"
            )
    return "outputs: " + " · ".join(parts)


class RunView:
    """The widgets that show one status (the trainer's current or last run).

    Parameters
    ----------
    form : ConfigForm
        The panel's form: the config line says where the form (the next run) differs.

    Attributes
    ----------
    badge, run_info, run_config, backbone, progress, progress_label, batch_progress, batch_label,
    metrics_epoch, metrics_box, outputs : Widget
        Each carries an ``eegtrain-*`` CSS class.
    metrics : dict[str, Label]
        ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc``, ``best_val_acc``, ``elapsed``, ``eta``.
    loss_curves, acc_curves : CurvesFigure
        The live curves.
    confusion : ConfusionFigure
        The test report's confusion matrix (hidden until the run has one).
    """

    def __init__(self, form: ConfigForm):
        self.form = form
        self.badge = with_class(w.HTML(), "eegtrain-badge")
        bar_layout = {"flex": "1 1 240px", "min_width": "0", "max_width": "460px"}
        self.progress = with_class(
            w.IntProgress(value=0, min=0, max=1, description="epochs", layout=bar_layout), "eegtrain-progress"
        )
        self.progress_label = with_class(w.HTML("no run yet"), "eegtrain-progress-label")
        self.batch_progress = with_class(
            w.IntProgress(value=0, min=0, max=1, description="batches", layout=dict(bar_layout)),
            "eegtrain-batch-progress",
        )
        self.batch_label = with_class(w.HTML(""), "eegtrain-batch-label")

        self.metrics: dict[str, w.Label] = {}
        self.metrics_epoch = with_class(w.Label("—"), "eegtrain-metrics-epoch")  # the epoch of the metrics
        cells = [
            w.VBox(
                [w.HTML("<span class='eegtrain-caption'>after epoch</span>"), self.metrics_epoch],
                layout={"min_width": "72px"},
            )
        ]
        for key, text in _METRICS.items():
            label = self.metrics[key] = with_class(w.Label("—"), f"eegtrain-metric-{key.replace('_', '-')}")
            cells.append(
                w.VBox(
                    [w.HTML(f"<span class='eegtrain-caption'>{text}</span>"), label],
                    layout={"min_width": "72px"},
                )
            )
        self.metrics_box = with_class(wrap_row(cells, grid_gap="4px 18px"), "eegtrain-metrics")
        self.test_card = with_class(w.HTML(), "eegtrain-test-card")
        self.backbone = with_class(w.HTML(), "eegtrain-backbone")
        self.run_info = with_class(w.HTML(), "eegtrain-run")
        self.run_config = with_class(w.HTML(), "eegtrain-run-config")
        self.outputs = with_class(w.HTML(), "eegtrain-outputs")
        self.loss_curves = CurvesFigure(
            "Loss",
            "cross-entropy loss",
            min_span=0.02,
            empty_range=(0.0, 1.0),
            css_class="eegtrain-loss-figure",
        )
        self.acc_curves = CurvesFigure(
            "Accuracy",
            "accuracy (%)",
            y_bounds=(0.0, 100.0),
            min_span=4.0,
            empty_range=(0.0, 100.0),
            css_class="eegtrain-acc-figure",
        )
        self.confusion = ConfusionFigure()
        self.visible = True
        """Whether the page shows this view now; while it does not, the confusion matrix waits (a
        bqplot figure first drawn out of sight has no size and draws negative-width rectangles)."""
        self._report: dict[str, Any] | None = None

    def rows(self) -> list[w.Widget]:
        """The section's rows, top to bottom (the badge goes in the panel's title row)."""
        return [
            self.run_info,
            self.run_config,
            self.backbone,
            wrap_row([self.progress, self.progress_label]),
            wrap_row([self.batch_progress, self.batch_label]),
            self.test_card,
            self.metrics_box,
            self.outputs,
            wrap_row(
                [self.loss_curves.widget, self.acc_curves.widget, self.confusion.widget],
                align_items="flex-start",
                grid_gap="8px 16px",
            ),
        ]

    def render(self, status: dict[str, Any]) -> None:
        """Draw every part from ``status``."""
        state = status.get("state", "idle")
        self.badge.value = badge_html(state)
        total = int(status.get("total_epochs") or 0)
        done = int(status.get("current_epoch") or 0)
        with self.progress.hold_sync():
            self.progress.max = max(total, 1)
            self.progress.value = min(done, self.progress.max)
            self.progress.bar_style = _BAR_STYLES.get(state, "info" if status.get("is_training") else "")
        self.progress_label.value = html.escape(epoch_text(status))
        self._render_batch(status)
        m = self.metrics
        m["train_loss"].value = _fmt_loss(status.get("train_loss"))
        m["val_loss"].value = _fmt_loss(status.get("val_loss"))
        m["train_acc"].value = _fmt_acc(status.get("train_acc"))
        m["val_acc"].value = _fmt_acc(status.get("val_acc"))
        m["best_val_acc"].value = _fmt_acc(status.get("best_val_acc"))
        m["elapsed"].value = status.get("elapsed_time_formatted") or "—"
        m["eta"].value = status.get("eta_formatted") or "—"
        self.metrics_epoch.value = str(done) if done else "—"
        self.backbone.value = backbone_html(status)
        self.run_info.value = run_info_html(status)
        self.render_run_config(status)
        self.outputs.value = outputs_html(status)
        hist = status.get("history") or {}
        self.loss_curves.update(hist.get("train_losses", []), hist.get("val_losses", []), total)
        self.acc_curves.update(hist.get("train_accs", []), hist.get("val_accs", []), total)
        self._report = status.get("test_report")
        if self.visible:
            self.confusion.update(self._report)
        self.test_card.value = test_card_html(status.get("test_report"))

    def render_run_config(self, status: dict[str, Any]) -> None:
        self.run_config.value = run_config_html(status, self.form)

    def show(self, visible: bool) -> None:
        """Say whether the page shows this view now (the panel's Train tab is chosen); shown again,
        it draws the confusion matrix it held back."""
        self.visible = visible
        if visible:
            self.confusion.update(self._report)

    def _render_batch(self, status: dict[str, Any]) -> None:
        batch = status.get("batch")
        with self.batch_progress.hold_sync():
            if batch:
                self.batch_progress.max = max(int(batch["n_batches"]), 1)
                self.batch_progress.value = min(int(batch["batch"]), self.batch_progress.max)
            elif not status.get("is_training"):
                self.batch_progress.value = 0
        self.batch_label.value = html.escape(batch_text(status))
