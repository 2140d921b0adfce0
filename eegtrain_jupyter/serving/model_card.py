"""A model card beside every checkpoint: ``model_card.json`` and the same facts as ``model_card.md``.

Written when a run ends (:class:`ModelCardWriter`, a
:class:`~eegtrain_jupyter.engine.events.TrainingListener`), from the best checkpoint and the data it was
trained on: data source and summary, preprocessing, config, metrics (the test split's when the
checkpoint has them, else validation, said as such), backbone origin, date and package versions.
A completed run publishes the card with its checkpoint.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import files
from ..engine.events import EpochResult, TrainingListener, TrainingResult

if TYPE_CHECKING:
    from ..data.windows import Windows

__all__ = [
    "MODEL_CARD_JSON",
    "MODEL_CARD_MD",
    "MODEL_CARD_NAMES",
    "ModelCardWriter",
    "build_model_card",
    "data_summary",
    "package_versions",
    "write_model_card",
]

MODEL_CARD_JSON = "model_card.json"
MODEL_CARD_MD = "model_card.md"
MODEL_CARD_NAMES = (MODEL_CARD_JSON, MODEL_CARD_MD)

_CITATION = (
    "LaBraM: W.-B. Jiang, L.-M. Zhao, B.-L. Lu, Large Brain Model for Learning Generic "
    "Representations with Tremendous EEG Data in BCI, ICLR 2024; implementation: braindecode "
    "(braindecode.models.Labram)"
)


def package_versions() -> dict[str, str]:
    """Versions of the packages a prediction depends on (absent ones are left out)."""
    from importlib.metadata import PackageNotFoundError, version

    from .._version import __version__

    out = {"eegtrain-jupyter": __version__, "python": platform.python_version()}
    for name in ("torch", "braindecode", "mne", "numpy", "onnx", "onnxruntime"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def data_summary(data: Windows) -> dict[str, Any]:
    """What the model was trained on: source, windows per class, subjects, channels, rate, length."""
    import numpy as np

    counts = np.bincount(np.asarray(data.y), minlength=data.n_classes)
    return {
        "source": "synthetic",
        "n_windows": len(data),
        "windows_per_class": {name: int(n) for name, n in zip(data.class_names, counts, strict=True)},
        "n_subjects": None if data.subjects is None else len(np.unique(data.subjects)),
        "ch_names": list(data.ch_names),
        "sfreq": float(data.sfreq),
        "n_times": data.n_times,
        "window_s": data.n_times / data.sfreq,
    }


def build_model_card(
    checkpoint: dict[str, Any], data: dict[str, Any] | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """The card's facts from a checkpoint dict (its weights are not read) and a data summary."""
    from ..files import now_iso

    test = checkpoint.get("test_report")
    source = ((checkpoint.get("config") or {}).get("data") or {}).get("source")
    if data is not None and source:
        data = {**data, "source": source}
    prep = checkpoint.get("preprocessing") or {
        "ch_names": list(checkpoint["ch_names"]),
        "sfreq": float(checkpoint["sfreq"]),
        "window_s": checkpoint["n_times"] / checkpoint["sfreq"],
        "scale": 1e6,
        "note": "recorded before preprocessing records existed: channels, rate and window only",
    }
    backbone = checkpoint.get("backbone") or {}
    output = "logits (softmax gives class probabilities, in `classes` order)"
    if "classifier_skops" in checkpoint:  # a classical baseline: no network, no backbone
        output = "class probabilities (the pipeline's predict_proba, in `classes` order)"
        backbone = {"message": "none: a scikit-learn pipeline fitted on the training windows"}
    return {
        "run_id": run_id,
        "created_at": now_iso(),
        "model": {
            "architecture": checkpoint.get("model_class", "braindecode.models.Labram"),
            "kwargs": checkpoint.get("model_kwargs", {}),
            "classes": list(checkpoint["class_names"]),
            "input": {
                "shape": ["batch", len(checkpoint["ch_names"]), checkpoint["n_times"]],
                "unit": "µV",
                "ch_names": list(checkpoint["ch_names"]),
                "sfreq": float(checkpoint["sfreq"]),
            },
            "output": output,
        },
        "backbone": {
            "origin": backbone.get("origin"),
            "message": backbone.get("message"),
            "weights_path": backbone.get("weights_path"),
            "load": backbone.get("load"),
        },
        "data": data,
        "preprocessing": prep,
        "config": checkpoint.get("config"),
        "metrics": {
            "best_epoch": checkpoint.get("epoch"),
            "validation": checkpoint.get("metrics"),
            "test": test,
            "reported_split": "test" if test else "validation",
        },
        "versions": package_versions(),
        "citation": _CITATION,
    }


def _markdown(card: dict[str, Any]) -> str:
    m, metrics = card["model"], card["metrics"]
    split = metrics["reported_split"]
    shown = metrics[split] or {}
    lines = [
        f"# Model card: {m['architecture'].rpartition('.')[2]} classifier"
        f"{' — run ' + card['run_id'] if card['run_id'] else ''}",
        "",
        f"Created {card['created_at']} with eegtrain-jupyter {card['versions']['eegtrain-jupyter']}.",
        "",
        "## Model",
        f"- architecture: `{m['architecture']}` {m['kwargs']}",
        f"- classes: {', '.join(m['classes'])}",
        f"- input: windows of shape (batch, {m['input']['shape'][1]}, {m['input']['shape'][2]}) in µV; "
        f"channels {', '.join(m['input']['ch_names'])} at {m['input']['sfreq']:g} Hz",
        f"- backbone: {card['backbone']['message'] or card['backbone']['origin']}",
        "",
        "## Data",
    ]
    data = card["data"] or {}
    lines += [f"- {k}: {v}" for k, v in data.items()] or ["- not recorded"]
    lines += ["", "## Preprocessing"] + [f"- {k}: {v}" for k, v in card["preprocessing"].items()]
    lines += ["", f"## Metrics ({split} split, best epoch {metrics['best_epoch']})"]
    lines += [
        f"- {k}: {v:.4g}" if isinstance(v, float) else f"- {k}: {v}"
        for k, v in shown.items()
        if k not in ("per_class", "confusion_matrix", "class_names")
    ]
    if split == "test":
        names = shown["class_names"]
        lines += ["", "Confusion matrix (rows: true class, columns: predicted):", ""]
        lines += ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        lines += [
            f"| {n} | " + " | ".join(map(str, row)) + " |"
            for n, row in zip(names, shown["confusion_matrix"], strict=True)
        ]
    if split == "validation":
        lines.append(
            "- no held-out test split was evaluated; validation accuracy chose this checkpoint, "
            "so it is optimistic"
        )
    lines += ["", "## Configuration"] + [f"- {k}: {v}" for k, v in (card["config"] or {}).items()]
    lines += ["", "## Versions"] + [f"- {k}: {v}" for k, v in card["versions"].items()]
    lines += ["", "## Citation", card["citation"], ""]
    return "\n".join(lines)


def write_model_card(
    folder: str | os.PathLike,
    checkpoint: dict[str, Any],
    data: dict[str, Any] | None = None,
    run_id: str | None = None,
) -> dict[str, str]:
    """Write ``model_card.json`` and ``model_card.md`` into ``folder`` (atomically); return their paths."""
    card = build_model_card(checkpoint, data, run_id)
    folder = Path(folder)
    json_path = files.write_json(folder / MODEL_CARD_JSON, card)
    with files.atomic_path(folder / MODEL_CARD_MD) as tmp:
        tmp.write_text(_markdown(card), encoding="utf-8")
    return {"model_card": str(json_path), "model_card_md": str(folder / MODEL_CARD_MD)}


class ModelCardWriter(TrainingListener):
    """Writes the model card for the best checkpoint into ``output_dir`` when the run ends.

    Parameters
    ----------
    output_dir : path
        The folder the checkpoint is written to.
    data : Windows
        The run's windows (summarised, not stored).
    run_id : str, optional
    """

    def __init__(self, output_dir: str | os.PathLike, data: Windows, run_id: str | None = None):
        self.output_dir = Path(output_dir)
        self.data = data_summary(data)
        self.run_id = run_id
        self._checkpoint: dict[str, Any] | None = None

    def on_best(self, result: EpochResult, checkpoint: dict[str, Any]) -> None:
        self._checkpoint = {k: v for k, v in checkpoint.items() if k != "model_state_dict"}

    def on_end(self, result: TrainingResult) -> None:
        if self._checkpoint is not None:
            if result.test_report:  # the held-out split, scored once with these weights
                self._checkpoint["test_report"] = result.test_report
            result.files.update(write_model_card(self.output_dir, self._checkpoint, self.data, self.run_id))
