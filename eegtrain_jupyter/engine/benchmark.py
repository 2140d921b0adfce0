"""A benchmark's outputs: the per-run table, the per-model summary with its statistics, and the
files (``benchmark.json``, ``benchmark.csv``, ``benchmark.md``, ``benchmark.png``).

A *row* is one run of the benchmark (a model on one fold of one repeat) with its test scores and
MOABB's result columns: ``score`` (here the balanced accuracy, as a fraction like MOABB's),
``time`` (seconds the run took), ``samples`` (training windows), ``channels``, ``subject`` and
``session`` (what the fold tests: ``+``-joined ids, empty where the protocol does not hold any out),
``pipeline`` (the model's label) and ``dataset``. Models are compared paired over the
``(repeat, fold)`` pairs both completed (:mod:`.statistics`): every model against the best and
against the best classical baseline.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import files
from ..schemas import BENCHMARK_METRICS
from . import statistics

__all__ = ["CSV_COLUMNS", "METRICS", "summarize_rows", "write_outputs"]

METRICS = BENCHMARK_METRICS
"""The test report's scores a row carries (:data:`~eegtrain_jupyter.schemas.BENCHMARK_METRICS`)."""

CSV_COLUMNS = (
    "score",
    "time",
    "samples",
    "channels",
    "subject",
    "session",
    "pipeline",
    "dataset",
    "model",
    "fold",
    "repeat",
    "run_id",
    "n_test",
    *METRICS,
)
"""``benchmark.csv``'s columns: MOABB's result columns first, then ours."""

METRIC_NAME = "balanced accuracy"
FILE_NAMES = {
    "json": "benchmark.json",
    "csv": "benchmark.csv",
    "markdown": "benchmark.md",
    "figure": "benchmark.png",
}


def _scores(rows: Sequence[dict[str, Any]], label: str) -> dict[tuple[int, int], float]:
    return {
        (int(r["repeat"]), int(r["fold"])): float(r["balanced_accuracy"])
        for r in rows
        if r["pipeline"] == label and r.get("balanced_accuracy") is not None
    }


def summarize_rows(rows: Sequence[dict[str, Any]], models: Sequence[tuple[str, str, bool]]) -> dict[str, Any]:
    """The per-model table and the paired comparisons of ``rows``.

    Parameters
    ----------
    rows : sequence of dict
        Completed runs (keys: ``pipeline``, ``fold``, ``repeat``, ``balanced_accuracy``...).
    models : sequence of (label, model, baseline)
        Every contender, in the request's order.

    Returns
    -------
    dict
        :class:`~eegtrain_jupyter.schemas.BenchmarkSummary`'s fields but ``files``.
    """
    table: list[dict[str, Any]] = []
    for label, model, baseline in models:
        scores = list(_scores(rows, label).values())
        if not scores:
            continue
        if len(scores) >= 2:
            s = statistics.summarize(scores, label, METRIC_NAME)
            entry: dict[str, Any] = {
                "n": s.n,
                "mean": s.mean,
                "sd": s.sd,
                "ci_low": s.ci_low,
                "ci_high": s.ci_high,
            }
            sentence = s.sentence
        else:
            entry = {"n": 1, "mean": scores[0], "sd": None, "ci_low": None, "ci_high": None}
            sentence = f"{label}: {scores[0]:.1f} % {METRIC_NAME} (one fold: no spread yet)"
        table.append({"label": label, "model": model, "baseline": baseline, **entry, "sentence": sentence})
    best = max(table, key=lambda m: m["mean"])["label"] if table else None
    baselines = [m for m in table if m["baseline"]]
    best_baseline = max(baselines, key=lambda m: m["mean"])["label"] if baselines else None
    comparisons = []
    for against, target in (("best", best), ("best_baseline", best_baseline)):
        if target is None:
            continue
        theirs = _scores(rows, target)
        for m in table:
            if m["label"] == target or (against == "best_baseline" and m["baseline"]):
                continue
            mine = _scores(rows, m["label"])
            keys = sorted(set(mine) & set(theirs))
            if len(keys) < 2:
                continue
            c = statistics.compare_paired(
                [mine[k] for k in keys], [theirs[k] for k in keys], m["label"], target, METRIC_NAME
            )
            comparisons.append(
                {
                    "a": c.a,
                    "b": c.b,
                    "against": against,
                    "n": c.n,
                    "mean_difference": c.mean_difference,
                    "ci_low": c.ci_low,
                    "ci_high": c.ci_high,
                    "p_value": c.p_value,
                    "test": c.test,
                    "verdict": c.verdict,
                }
            )
    return {
        "metric": "balanced_accuracy",
        "models": table,
        "best": best,
        "best_baseline": best_baseline,
        "comparisons": comparisons,
    }


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return value


def _csv(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in CSV_COLUMNS})
    return out.getvalue()


def _mean(rows: Sequence[dict[str, Any]], label: str, key: str) -> str:
    values = [float(r[key]) for r in rows if r["pipeline"] == label and r.get(key) is not None]
    if not values:
        return "–"
    mean = sum(values) / len(values)
    return f"{mean:.3f}" if key == "cohen_kappa" else f"{mean:.1f}"


def _markdown(status: dict[str, Any], rows: Sequence[dict[str, Any]], summary: dict[str, Any]) -> str:
    n_repeats = (status.get("request") or {}).get("config", {}).get("evaluation", {}).get("n_repeats", 1)
    lines = [
        f"# Benchmark {status['benchmark_id']}",
        "",
        f"Protocol **{status['protocol']}**: {status['n_folds']} fold(s) × {n_repeats} repeat(s); "
        f"{len(rows)} of {status['n_runs']} runs completed. Scores on each fold's held-out windows, "
        "in percent (Cohen's kappa: a coefficient); `scores`: one per fold and repeat.",
        "",
        "| model | baseline | scores | balanced accuracy (mean ± SD) | 95 % CI | accuracy | kappa | "
        "macro F1 | weighted F1 | ROC AUC | AUC-PR |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in summary["models"]:
        spread = f"{m['mean']:.1f} ± {m['sd']:.1f}" if m["sd"] is not None else f"{m['mean']:.1f}"
        ci = f"{m['ci_low']:.1f} … {m['ci_high']:.1f}" if m["ci_low"] is not None else "–"
        others = " | ".join(
            _mean(rows, m["label"], k)
            for k in ("accuracy", "cohen_kappa", "macro_f1", "weighted_f1", "roc_auc", "average_precision")
        )
        flag = "yes" if m["baseline"] else ""
        lines.append(f"| {m['label']} | {flag} | {m['n']} | {spread} | {ci} | {others} |")
    lines += ["", "## Statistics", ""]
    if summary["best"] is not None:
        lines.append(
            f"Best model: **{summary['best']}**; best baseline: **{summary['best_baseline'] or '–'}**."
        )
        lines.append("")
    for title, against in (
        ("Against the best model", "best"),
        ("Against the best baseline", "best_baseline"),
    ):
        found = [c for c in summary["comparisons"] if c["against"] == against]
        if found:
            lines += [f"{title}:", ""] + [f"- {c['verdict']}" for c in found] + [""]
    if not summary["comparisons"]:
        lines += ["No paired comparison yet (it needs two models with at least 2 common folds).", ""]
    return "\n".join(lines)


def _figure(path: Path, rows: Sequence[dict[str, Any]], summary: dict[str, Any]) -> None:
    """Per-fold balanced accuracy of each model (a dot per fold, a line joining one fold across the
    models: the pairs the statistics compare), with each model's mean."""
    from matplotlib.figure import Figure

    labels = [m["label"] for m in summary["models"]]
    fig = Figure(figsize=(max(4.0, 1.3 * len(labels) + 2), 4))
    ax = fig.add_subplot()
    keys = sorted({(int(r["repeat"]), int(r["fold"])) for r in rows})
    for key in keys:
        points = [(i, s[key]) for i, label in enumerate(labels) if key in (s := _scores(rows, label))]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, "-o", color="0.6", alpha=0.6, markersize=4, linewidth=1)
    for i, m in enumerate(summary["models"]):
        ax.plot(
            [i - 0.25, i + 0.25], [m["mean"], m["mean"]], color="C3" if m["baseline"] else "C0", linewidth=3
        )
    ax.set_xticks(range(len(labels)), labels, rotation=20 if len(labels) > 4 else 0)
    ax.set_ylabel("balanced accuracy (%)")
    ax.set_title("Per-fold test scores (lines join one fold; bars: means, red = baseline)", fontsize=9)
    ax.set_xlim(-0.5, max(0.5, len(labels) - 0.5))
    fig.tight_layout()
    files.write_with(path, "wb", lambda fh: fig.savefig(fh, format="png", dpi=100))


def _write_text(path: Path, text: str) -> None:
    def write(fh: Any) -> None:
        fh.write(text)

    files.write_with(path, "w", write)


def write_outputs(
    folder: str | Path, status: dict[str, Any], rows: Sequence[dict[str, Any]], summary: dict[str, Any]
) -> dict[str, str]:
    """Write the four files atomically into ``folder``; their paths by kind."""
    folder = Path(folder)
    paths = {kind: folder / name for kind, name in FILE_NAMES.items()}
    out = {kind: str(p) for kind, p in paths.items()}
    full = {**summary, "files": out}
    files.write_json(paths["json"], {**status, "summary": full, "rows": list(rows)})
    _write_text(paths["csv"], _csv(rows))
    _write_text(paths["markdown"], _markdown(status, rows, summary))
    _figure(paths["figure"], rows, summary)
    return out
